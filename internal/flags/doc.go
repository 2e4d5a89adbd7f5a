// Package flags is Journey's feature flag core: PostHog's flag model, a
// strict decoder and validator for it, and an evaluator that gives the
// answers PostHog's /flags service gives, so that PostHog SDKs (remote
// and local evaluation alike) agree with Journey. It does no I/O: the
// caller brings the person's properties, groups, cohort membership and
// the experience-continuity hash key.
//
// # Model
//
// A Flag is PostHog's flag JSON, as POST /api/v1/flags takes it and as
// /flags/definitions serves it to server SDKs:
//
//	{"id":1, "key":"beta", "name":"…", "active":true, "version":3,
//	 "ensure_experience_continuity":false,
//	 "filters":{
//	   "groups":[{"properties":[{"key":"plan","value":["pro"],"operator":"exact","type":"person"}],
//	              "rollout_percentage":45, "variant":null}],
//	   "multivariate":{"variants":[{"key":"control","name":"…","rollout_percentage":50}, …]},
//	   "payloads":{"true":"{\"a\":1}", "control":"…"},
//	   "aggregation_group_type_index":null}}
//
// Decode reads it strictly (unknown fields, wrong types and bad values are
// errors naming the field, e.g. filters.groups[1].properties[0].operator);
// Validate checks a Flag built in code; Compile prepares one for fast
// evaluation (regexes compiled, dates parsed, thresholds computed).
//
// # Bucketing
//
// Deterministic, and PostHog's, so local evaluation in PostHog's server
// SDKs lands every id in the same bucket as Journey does:
//
//	hash(key, id, salt) = int(sha1(key + "." + id + salt)[:15 hex digits], 16) / 0xFFFFFFFFFFFFFFF
//
// A condition with rollout p admits id when hash(flag key, id, "") <= p/100
// (p = 100, or no rollout, admits everyone). The variant is the first whose
// cumulative range [Σ previous, Σ previous + p_i/100) holds
// hash(flag key, id, "variant"). id is the distinct id; the hash key
// override (the anonymous id first bucketed) for flags with experience
// continuity; the group key for group-aggregated flags and conditions.
//
// # Evaluation
//
// Conditions are OR'd in order, the properties of one condition AND'd.
// The result carries PostHog's reason codes (condition_match,
// no_condition_match, out_of_rollout_bound, no_group_type, flag_disabled)
// and the condition index PostHog reports: the matching condition, or the
// last condition with the most telling reason (out of rollout beats no
// match beats no group).
//
// # Semantics
//
// Matching follows PostHog's flags service (rust/feature-flags
// property_matching.rs), which, like Journey, holds the person's full
// properties; the SDKs' local evaluation (posthog-node's matchProperty,
// posthog-python's match_property) agrees wherever it is conclusive, and
// falls back to the server where it is not:
//   - A missing property matches only the negative operators (is_not,
//     is_not_set, not_icontains, not_regex, not_starts_with,
//     not_ends_with, not_icontains_multi, not_between); there is no
//     "inconclusive".
//   - A null value is set; exact and is_not compare it as "null"; no other
//     operator matches it.
//   - exact / is_not take a value or a list, compare case-insensitively,
//     numbers and booleans as their text (5 = "5", true = "True").
//   - icontains, starts_with, ends_with (and not_…) are case-insensitive;
//     regex / not_regex are RE2, case-sensitive, unanchored (a pattern Go
//     cannot compile is refused by Validate rather than never matching).
//   - gt, gte, lt, lte, between compare numbers, numeric strings coerced;
//     a value that is no number matches none of them (the SDKs' fallback
//     to string comparison, "100" < "30", is not kept).
//   - is_date_before / is_date_after / is_date_exact: the filter is a date,
//     a date-time (with or without offset; naive ones in the project's
//     zone, see CompileIn) or a relative date -Nh, -Nd, -Nw, -Nm, -Ny (the
//     minus optional, N < 10000; months and years clamp the day); the
//     value is such a string, Unix seconds (number or numeric string) or a
//     time.Time.
//   - semver_*: (major, minor, patch), "v" prefix, pre-release and build
//     dropped, missing parts 0; tilde, caret and wildcard ranges as npm's.
//   - type "cohort" asks Env.Cohorts (operator in / not_in); *Cohorts
//     computes PostHog's local-evaluation cohort definitions, with a
//     Fallback for stored memberships. type "flag" (operator
//     flag_evaluates_to) compares another flag's value: true matches any
//     enabled value, false a disabled flag, a string that variant.
//   - type "bucket" (Journey's own, for experiment layers and holdouts;
//     see bucket.go): operator in_range / not_in_range, value [from, to],
//     matches when Hash(key, id, "") is in [from, to). PostHog's SDKs do
//     not know it and fall back to /flags.
//   - "negation": true inverts any property.
//   - A property value whose text (as JSON, for lists and objects) is
//     over MaxMatchLen (64 KiB) is not compared, and one evaluation spends
//     at most MaxRegexWork (regex program size × value length) on
//     regexes: a filter not compared does not match, negated or not, and
//     its result carries an error wrapping ErrNotCompared
//     (errorsWhileComputingFlags).
//
// Limits: a regex is at most MaxRegexLen bytes of source and compiles to
// at most MaxRegexProgram (10 000) instructions, MaxFlagRegexProgram
// (50 000) for all the regexes of a flag or cohort definition (a bounded
// repeat copies what it repeats: (?:.{1000}){9} is 9 000 instructions);
// a flag's payloads total at most MaxPayloadBytes (64 KiB). Cohorts are
// computed once per membership check (ForEvaluation: once per
// evaluation), and chains of cohorts referring to cohorts are at most 32
// deep.
//
// Decode refuses what Journey does not evaluate (early-access super
// groups, holdouts, device-id bucketing, early_exit) instead of ignoring
// it. An inactive flag is false with reason flag_disabled, PostHog's code.
package flags
