package duckdb

import (
	"fmt"
	"sort"
	"strings"

	"github.com/journey-dev/journey/internal/insight"
)

// The SQL insight's checker reads DuckDB's own parse tree
// (json_serialize_sql) and allows only what it understands:
//
//   - query nodes: SELECT and set operations (UNION …); no recursive CTEs
//     (they can grow without bound);
//   - table references: a plain table name, a join, a subquery, VALUES;
//     a table name must be events, persons or groups, or a CTE that is in
//     scope where the name stands. Scope follows SQL (and DuckDB, checked
//     in the tests): a CTE is seen by its query's body and by the CTEs
//     declared after it in the same WITH, never by itself or by earlier
//     ones, and not outside its query. A name declared in a subquery
//     therefore unlocks nothing outside it;
//   - expressions of known classes only, calling functions from an explicit
//     allow-list (allowedFunctions): nothing that reads files, settings,
//     the catalog or sequences, and nothing whose output size is set by an
//     argument rather than by its input (range, repeat, lpad, list_resize,
//     printf widths, …), or that can multiply its input's size when nested
//     or given a column as argument (replace, regexp_replace, array_to_string
//     with a column separator, list_transform and the other lambda
//     builders), whose work is quadratic in one uninterruptible call
//     (levenshtein, jaro…), that calls aggregates by name
//     (list_aggregate), or whose state grows without bound outside
//     DuckDB's buffer manager (list, string_agg, median, mode, …).
//
// Names are compared the way DuckDB compares identifiers: ASCII letters
// folded, nothing else. A Unicode-aware fold would let a CTE named with
// a Kelvin sign K unlock a real table DuckDB does not see as the same name.

var allowedTables = map[string]bool{"events": true, "persons": true, "groups": true}

// allowedFunctions are the scalar, aggregate, window and macro functions a
// user query may call (operators included: DuckDB parses `a + b` as the
// function "+").
var allowedFunctions = setOf(
	// operators
	"+", "-", "*", "/", "//", "%", "**", "^", "&", "|", "<<", ">>", "~", "||", "~~", "!~~", "~~*", "!~~*",
	"~~~", "^@", "->>", "@", "!__postfix", "&&", "<@", "@>", "<->",
	// arithmetic and math
	"abs", "add", "subtract", "multiply", "divide", "mod", "fmod", "fdiv", "ceil", "ceiling", "floor", "round",
	"round_even", "roundbankers", "trunc", "sign", "signbit", "sqrt", "cbrt", "exp", "ln", "log", "log10", "log2",
	"pow", "power", "pi", "degrees", "radians", "sin", "cos", "tan", "cot", "asin", "acos", "atan", "atan2", "sinh",
	"cosh", "tanh", "asinh", "acosh", "atanh", "gcd", "lcm", "greatest_common_divisor", "least_common_multiple",
	"greatest", "least", "isnan", "isinf", "isfinite", "even", "factorial", "gamma", "lgamma", "nextafter",
	"random", "bit_count", "xor", "hash",
	// conditionals and types
	"coalesce", "nullif", "ifnull", "if", "typeof", "try", "constant_or_null",
	// strings
	"length", "len", "char_length", "character_length", "strlen", "octet_length", "bit_length", "lower", "lcase",
	"upper", "ucase", "trim", "ltrim", "rtrim", "left", "right", "left_grapheme", "right_grapheme", "substr",
	"substring", "substring_grapheme", "length_grapheme", "concat", "concat_ws", "reverse",
	"translate", "strpos", "instr", "position", "contains", "starts_with", "ends_with", "prefix", "suffix",
	"split_part", "string_split", "str_split", "string_to_array", "split", "string_split_regex",
	"str_split_regex", "regexp_matches", "regexp_full_match", "regexp_extract", "regexp_extract_all",
	"regexp_split_to_array", "regexp_escape", "like_escape", "not_like_escape",
	"ilike_escape", "not_ilike_escape", "ascii", "chr", "unicode", "ord", "strip_accents", "nfc_normalize",
	"md5", "md5_number", "sha1", "sha256", "hamming", "mismatches",
	"jaccard", "url_encode", "url_decode", "base64", "to_base64",
	"from_base64", "hex", "to_hex", "unhex", "from_hex", "bin", "to_binary", "unbin", "from_binary", "encode",
	"decode", "format_bytes", "formatreadablesize", "formatreadabledecimalsize", "parse_formatted_bytes",
	// dates and times
	"now", "today", "current_date", "current_timestamp", "get_current_time", "get_current_timestamp",
	"transaction_timestamp", "current_localtime", "current_localtimestamp", "date_trunc", "datetrunc",
	"date_part", "datepart", "date_diff", "datediff", "date_sub", "datesub", "date_add", "time_bucket", "age",
	"extract", "strftime", "strptime", "try_strptime", "to_timestamp", "epoch", "epoch_ms", "epoch_us",
	"epoch_ns", "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_timestamp_ms",
	"make_timestamp_ns", "last_day", "dayname", "monthname", "year", "quarter", "month", "week", "weekofyear",
	"yearweek", "day", "dayofmonth", "dayofweek", "dayofyear", "weekday", "isodow", "isoyear", "hour", "minute",
	"second", "millisecond", "microsecond", "nanosecond", "era", "century", "decade", "millennium", "julian",
	"timezone", "timezone_hour", "timezone_minute", "days_in_month", "to_years", "to_months", "to_weeks",
	"to_days", "to_hours", "to_minutes", "to_seconds", "to_milliseconds", "to_microseconds", "to_quarters",
	"to_decades", "to_centuries", "to_millennia", "normalized_interval", "ago",
	// JSON (properties are JSON text)
	"json", "json_extract", "json_extract_string", "json_extract_path", "json_extract_path_text", "json_value",
	"json_exists", "json_keys", "json_type", "json_valid", "json_array_length", "json_contains", "json_structure",
	"json_object", "json_array", "json_quote", "json_merge_patch", "json_pretty", "to_json", "array_to_json",
	"row_to_json", "from_json", "from_json_strict", "json_transform", "json_transform_strict",
	// lists, structs and maps, whose size follows their input
	"list_value", "list_pack", "array_value", "list_extract", "list_element", "array_extract", "element_at",
	"list_slice", "array_slice", "list_contains", "list_has", "array_contains", "array_has", "list_has_any",
	"array_has_any", "list_has_all", "array_has_all", "list_position", "list_indexof", "array_position",
	"array_indexof", "list_concat", "list_cat", "array_concat", "array_cat", "list_append", "array_append",
	"array_push_back", "list_prepend", "array_prepend", "array_push_front", "array_pop_back", "array_pop_front",
	"list_distinct", "array_distinct", "list_unique", "array_unique", "list_sort", "array_sort",
	"list_reverse_sort", "array_reverse_sort", "list_reverse", "array_reverse", "list_grade_up",
	"array_grade_up", "grade_up", "list_filter", "array_filter", "filter", "list_zip", "array_zip",
	"list_intersect", "array_intersect", "list_select", "array_select", "list_where", "array_where",
	"flatten", "array_length",
	"cardinality", "unnest", "list_sum", "list_avg", "list_min", "list_max", "list_count", "list_first",
	"list_last", "list_any_value", "list_median", "list_mode", "list_string_agg", "list_histogram",
	"list_product", "list_stddev_pop", "list_stddev_samp", "list_var_pop", "list_var_samp", "list_bool_and",
	"list_bool_or", "list_approx_count_distinct", "list_entropy", "list_sem", "list_skewness", "list_kurtosis",
	"list_kurtosis_pop", "list_mad", "list_bit_and", "list_bit_or", "list_bit_xor", "list_dot_product",
	"list_inner_product", "list_cosine_similarity", "list_cosine_distance", "list_distance", "struct_pack",
	"row", "struct_extract", "struct_extract_at", "struct_insert", "struct_concat", "struct_keys",
	"struct_values", "struct_has", "struct_contains", "map", "map_from_entries", "map_entries", "map_keys",
	"map_values", "map_extract", "map_extract_value", "map_contains", "map_contains_entry", "map_contains_value",
	"map_concat", "union_extract", "union_tag", "union_value",
	// uuids
	"uuid", "gen_random_uuid", "uuidv4", "uuidv7", "uuid_extract_timestamp", "uuid_extract_version",
	// aggregates whose state is bounded (or lives in DuckDB's buffer manager)
	"count", "count_star", "count_if", "countif", "sum", "sum_no_overflow", "fsum", "sumkahan", "kahan_sum",
	"avg", "mean", "favg", "min", "max", "any_value", "arbitrary", "first", "last", "arg_min", "arg_max",
	"argmin", "argmax", "min_by", "max_by", "arg_min_null", "arg_max_null", "product", "bool_and", "bool_or",
	"bit_and", "bit_or", "bit_xor", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
	"sem", "skewness", "kurtosis", "kurtosis_pop", "corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy",
	"regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
	"approx_count_distinct", "approx_quantile", "reservoir_quantile", "weighted_avg", "wavg", "geomean",
	"geometric_mean",
	// window functions
	"row_number", "rank", "dense_rank", "rank_dense", "percent_rank", "cume_dist", "ntile", "lag", "lead",
	"first_value", "last_value", "nth_value",
)

// allowedExpressions are the expression classes of DuckDB's tree a query
// may use.
var allowedExpressions = setOf("CONSTANT", "COLUMN_REF", "FUNCTION", "WINDOW", "OPERATOR", "COMPARISON",
	"CONJUNCTION", "CASE", "CAST", "BETWEEN", "SUBQUERY", "STAR", "LAMBDA", "LAMBDA_REF", "COLLATE",
	"POSITIONAL_REFERENCE")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// foldASCII lower-cases ASCII letters only, as DuckDB compares identifiers.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// scope is the CTE names visible at one point of the query.
type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.names[name] {
			return true
		}
	}
	return false
}

func checkSQL(tree map[string]any) error {
	if isErr, _ := tree["error"].(bool); isErr {
		return insight.Bad("query", "%v", tree["error_message"])
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return insight.Bad("query", "exactly one SELECT statement is allowed")
	}
	stmt, _ := stmts[0].(map[string]any)
	node, ok := stmt["node"].(map[string]any)
	if !ok {
		return insight.Bad("query", "only a SELECT statement is allowed")
	}
	return checkNode(node, nil)
}

// checkNode checks a query node (SELECT or a set operation) in the scope
// outer.
func checkNode(node map[string]any, outer *scope) error {
	typ, _ := node["type"].(string)
	switch typ {
	case "SELECT_NODE", "SET_OPERATION_NODE":
	case "RECURSIVE_CTE_NODE":
		return insight.Bad("query", "recursive CTEs are not allowed")
	default:
		return insight.Bad("query", "query form %s is not allowed", typ)
	}
	inner, err := checkCTEs(node, outer)
	if err != nil {
		return err
	}
	for k, v := range node {
		if k == "cte_map" {
			continue
		}
		if err := checkValue(v, inner); err != nil {
			return err
		}
	}
	return nil
}

// checkCTEs checks the node's WITH list, each CTE seeing only those before
// it, and returns the scope its body sees.
func checkCTEs(node map[string]any, outer *scope) (*scope, error) {
	m, _ := node["cte_map"].(map[string]any)
	entries, _ := m["map"].([]any)
	if len(entries) == 0 {
		return outer, nil
	}
	sc := outer
	for _, e := range entries {
		em, _ := e.(map[string]any)
		name, ok := em["key"].(string)
		val, _ := em["value"].(map[string]any)
		q, _ := val["query"].(map[string]any)
		body, _ := q["node"].(map[string]any)
		if !ok || body == nil {
			return nil, insight.Bad("query", "cannot read a CTE of the query")
		}
		if kt, _ := val["key_targets"].([]any); len(kt) > 0 {
			return nil, insight.Bad("query", "recursive CTEs are not allowed")
		}
		if err := checkNode(body, sc); err != nil {
			return nil, err
		}
		// Visible from the next CTE on, and in the body.
		sc = &scope{names: map[string]bool{foldASCII(name): true}, parent: sc}
	}
	return sc, nil
}

// checkValue walks any part of the tree: expressions, table references and
// nested query nodes are checked where they are found; everything else
// (modifiers, type descriptions, constants' values) is walked through.
func checkValue(v any, sc *scope) error {
	switch x := v.(type) {
	case []any:
		for _, c := range x {
			if err := checkValue(c, sc); err != nil {
				return err
			}
		}
	case map[string]any:
		if _, isExpr := x["class"]; isExpr {
			return checkExpr(x, sc)
		}
		if typ, _ := x["type"].(string); strings.HasSuffix(typ, "_NODE") {
			return checkNode(x, sc)
		}
		if _, isRef := x["sample"]; isRef {
			if _, located := x["query_location"]; located {
				return checkTableRef(x, sc)
			}
		}
		// Fail closed if a later DuckDB serializes these differently:
		// anything naming a table is a table reference, anything naming
		// a function an expression.
		if _, named := x["table_name"]; named {
			return checkTableRef(x, sc)
		}
		if _, calls := x["function_name"]; calls {
			return insight.Bad("query", "function %v is not allowed here", x["function_name"])
		}
		return checkChildren(x, sc)
	}
	return nil
}

func checkChildren(x map[string]any, sc *scope) error {
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same first error for the same query
	for _, k := range keys {
		if err := checkValue(x[k], sc); err != nil {
			return err
		}
	}
	return nil
}

func checkTableRef(ref map[string]any, sc *scope) error {
	switch typ, _ := ref["type"].(string); typ {
	case "BASE_TABLE":
		name := fmt.Sprint(ref["table_name"])
		if ref["schema_name"] != "" || ref["catalog_name"] != "" {
			return insight.Bad("query", "table %q: qualified table names are not allowed", name)
		}
		if ref["at_clause"] != nil {
			return insight.Bad("query", "table %q: AT (time travel) is not allowed", name)
		}
		if n := foldASCII(name); !allowedTables[n] && !sc.has(n) {
			return insight.Bad("query", "unknown table %q (use events, persons, groups or a CTE of the query)", name)
		}
	case "JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY":
	case "TABLE_FUNCTION":
		return insight.Bad("query", "table functions are not allowed")
	default:
		return insight.Bad("query", "table reference %s is not allowed", strings.ToLower(strings.TrimSuffix(typ, "_REF")))
	}
	return checkChildren(ref, sc)
}

func checkExpr(e map[string]any, sc *scope) error {
	class, _ := e["class"].(string)
	if !allowedExpressions[class] {
		return insight.Bad("query", "expression %s is not allowed", strings.ToLower(class))
	}
	if class == "FUNCTION" || class == "WINDOW" {
		name, _ := e["function_name"].(string)
		// The parser qualifies some itself ([1] is main.list_value).
		if sch, cat := e["schema"], e["catalog"]; (sch != "" && sch != "main") || (cat != "" && cat != "system") {
			return insight.Bad("query", "function %q: qualified function names are not allowed", name)
		}
		if !allowedFunctions[foldASCII(name)] {
			return insight.Bad("query", "function %q is not allowed", name)
		}
		if st, _ := e["export_state"].(bool); st {
			return insight.Bad("query", "function %q: EXPORT_STATE is not allowed", name)
		}
	}
	return checkChildren(e, sc)
}
