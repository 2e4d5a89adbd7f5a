package duckdb

import "strings"

// refusedFunctions are the DuckDB functions the sql kind refuses, named so
// that TestFunctionsClassified can tell a function DuckDB added in an
// upgrade (neither allowed nor refused: the test fails until someone
// decides) from one refused on purpose. Why each is refused is in
// sqlcheck.go's comment: it reads the catalog, settings, sequences or the
// session; its output size is an argument's choice; it can multiply its
// input's size or is quadratic in one call; its state is not counted by
// DuckDB's buffer manager; it dispatches to other functions by name; or
// it is Journey's own (journey_funnel_feed, journey_actor_periods,
// journey_index_feed, journey_experiment_feed).
var refusedFunctions = setOf(
	"<=>", "aggregate", "alias", "apply", "approx_top_k", "arg_max_nulls_last", "arg_min_nulls_last",
	"array_agg", "array_aggr", "array_aggregate", "array_apply", "array_cosine_distance",
	"array_cosine_similarity", "array_cross_product", "array_distance", "array_dot_product",
	"array_inner_product", "array_negative_dot_product", "array_negative_inner_product", "array_reduce",
	"array_resize", "array_to_string", "array_to_string_comma_default", "array_transform", "bar",
	"bit_position", "bitstring", "bitstring_agg", "can_cast_implicitly", "cast_to_type", "col_description",
	"combine", "create_sort_key", "current_catalog", "current_connection_id", "current_database",
	"current_query", "current_query_id", "current_role", "current_schema", "current_schemas", "current_setting",
	"current_transaction_id", "current_user", "currval", "damerau_levenshtein", "editdist3", "entropy",
	"enum_code", "enum_first", "enum_last", "enum_range", "enum_range_boundary", "equi_width_bins", "error",
	"fill", "finalize", "format", "format_pg_type", "format_type", "generate_series", "generate_subscripts",
	"get_bit", "get_block_size", "get_type", "getvariable", "group_concat", "has_any_column_privilege",
	"has_column_privilege", "has_database_privilege", "has_foreign_data_wrapper_privilege",
	"has_function_privilege", "has_language_privilege", "has_schema_privilege", "has_sequence_privilege",
	"has_server_privilege", "has_table_privilege", "has_tablespace_privilege", "histogram", "histogram_exact",
	"icu_sort_key", "in_search_path", "inet_client_addr", "inet_client_port", "inet_server_addr",
	"inet_server_port", "is_histogram_other_bin", "jaro_similarity", "jaro_winkler_similarity",
	"journey_actor_periods", "journey_experiment_feed", "journey_funnel_feed", "journey_index_feed", "json_deserialize_sql", "json_group_array",
	"json_group_object", "json_group_structure", "json_serialize_plan", "json_serialize_sql", "levenshtein",
	"list", "list_aggr", "list_aggregate", "list_apply", "list_negative_dot_product",
	"list_negative_inner_product", "list_reduce", "list_resize", "list_transform", "listagg", "lpad", "mad",
	"make_type", "map_to_pg_oid", "md5_number_lower", "md5_number_upper", "median", "mode", "nextval",
	"obj_description", "parse_dirname", "parse_dirpath", "parse_duckdb_log_message", "parse_filename",
	"parse_path", "pg_collation_is_visible", "pg_conf_load_time", "pg_conversion_is_visible",
	"pg_function_is_visible", "pg_get_constraintdef", "pg_get_expr", "pg_get_viewdef", "pg_has_role",
	"pg_is_other_temp_schema", "pg_my_temp_schema", "pg_opclass_is_visible", "pg_operator_is_visible",
	"pg_opfamily_is_visible", "pg_postmaster_start_time", "pg_size_pretty", "pg_sleep", "pg_table_is_visible",
	"pg_ts_config_is_visible", "pg_ts_dict_is_visible", "pg_ts_parser_is_visible", "pg_ts_template_is_visible",
	"pg_type_is_visible", "pg_typeof", "printf", "quantile", "quantile_cont", "quantile_disc", "range",
	"reduce", "regexp_replace", "regexp_split_to_table", "remap_struct", "repeat", "replace", "replace_type",
	"rpad", "session_user", "set_bit", "setseed", "shobj_description", "sleep_ms", "st_asbinary", "st_astext",
	"st_aswkb", "st_aswkt", "st_crs", "st_geomfromwkb", "st_intersects_extent", "st_setcrs", "stats",
	"string_agg", "struct_indexof", "struct_position", "struct_update", "switch", "timetz_byte_comparable",
	"to_base", "txid_current", "unpivot_list", "user", "variant_bytes_to_variant", "variant_extract",
	"variant_normalize", "variant_to_parquet_variant", "variant_typeof", "vector_type", "version", "write_log",
)

// refusedPrefixes cover families refused whole: DuckDB's internal
// compression helpers and the per-locale ICU collations.
var refusedPrefixes = []string{"__internal_", "icu_collate_"}

// classified reports whether the checker has decided about a function.
func classified(name string) bool {
	name = foldASCII(name)
	if allowedFunctions[name] || refusedFunctions[name] {
		return true
	}
	for _, p := range refusedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
