// Package flagserve evaluates a project's feature flags for every
// endpoint that answers them: PostHog's /flags and /decide, the
// local-evaluation definitions server SDKs poll, and OpenFeature's OFREP.
// Package flags does the matching and bucketing; this package brings it
// the flags, cohorts, person properties and hash keys, from caches, so that
// a replica answers without touching the metadata or event store on most
// requests: about 10 µs to evaluate 20 flags from warm caches
// (BenchmarkEvaluate), the HTTP and JSON work around it aside.
//
// # Where an evaluation reads from
//
//   - Flags: a per-project snapshot (compiled flags by key, the project's
//     time zone, group type mapping, cohorts, and the local-evaluation
//     answer with its ETag, built once per snapshot). A request older
//     than Options.CheckEvery (1 s) since the last check reads
//     meta.FlagsRevision (one indexed row) and rebuilds the snapshot when
//     the revision moved, so every replica of the scale-out stack sees a
//     flag change within about a second. Only one request per project
//     checks; the others answer from the snapshot they have. A change to
//     a cohort bumps the revision too; the group type mapping and the time
//     zone do not, so the snapshot rereads them (and the cohorts) every
//     Options.SlowEvery (10 s). At most
//     Options.MaxProjects (1000) snapshots are kept, least recently used
//     dropped first. When the metadata store fails, the last snapshot keeps
//     answering; a project with none answers an error (503).
//   - Person properties: what Journey stored for the person
//     (store.PersonByDistinctID, with all the person's distinct ids),
//     then the request's person_properties over them (the request wins).
//     On the embedded stack they come from the person index (index.go,
//     Options.Index): every person's distinct ids and values of the keys
//     the project's flags and cohorts read, built from the store in one
//     scan and kept current by the loader's writes, so a request reads
//     no store. Elsewhere, and until the index is built, lookups go through a per-replica cache of Options.MaxPersons
//     (100 000) entries and at most Options.MaxPersonBytes (64 MiB,
//     estimated) that expire after Options.PersonTTL (30 s), shared fairly
//     between projects: when it is full, the project holding the most
//     gives way, so one project (made-up ids sent with its public token)
//     evicts its own entries, not another's. Unknown persons are cached
//     too, as "no stored properties", at most a 64th of the entries per
//     project; an id longer than MaxDistinctIDLen (200 characters,
//     capture's bound) is no person, neither looked up nor cached. A
//     snapshot whose flags have no person or cohort filter skips the
//     lookup altogether. A store error evaluates with the request's
//     properties and answers errorsWhileComputingFlags.
//   - Group properties: the request's group_properties. The event store
//     has no group getter today; when it implements GroupGetter, stored
//     group properties are read (uncached) and the request's override them.
//   - Cohorts, from meta's cohorts, by their definition:
//     PostHog property cohorts ({"type":"AND"|"OR","values":[…]} or
//     {"properties":{…}}) are compiled with flags.CompileCohorts, matched
//     on the person properties and served to server SDKs with
//     send_cohorts; static cohorts (insight.CohortDef distinct_ids) match
//     when any of the person's distinct ids is listed (membership from the
//     snapshot, never sent to SDKs, so their local evaluation falls back to
//     /flags); behavioural cohorts are not supported: such a filter does
//     not match and the answer says errorsWhileComputingFlags.
//   - Experience continuity (continuity.go): flags with
//     ensure_experience_continuity are evaluated with the hash key
//     meta.FlagHashKeys has for the distinct id (Subject.HashOverride).
//     On identify (a request with $anon_distinct_id) the anonymous id
//     (or its own hash key) is used, and recorded (meta.SetFlagHashKeys;
//     the first bucket wins) only for distinct ids of persons the event
//     store has, only where no row exists, and at most
//     Options.HashKeyWrites a second per client; a distinct id without
//     rows later finds them through the person's other distinct ids.
//     These reads and writes are the only metadata calls on the request
//     path, and only for projects that have such flags; ids with rows are
//     cached (rows never change).
//
// Flags are answered in key order. Inactive flags are answered too
// (false, reason flag_disabled), as PostHog's SDKs expect. Payloads past
// Options.MaxAnswerPayloads (1 MiB) in one answer are left out, and the
// answer says errorsWhileComputingFlags. A change to one flag recompiles
// that flag only.
package flagserve
