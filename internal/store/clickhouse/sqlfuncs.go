package clickhouse

import "strings"

// The functions a user's query may call on ClickHouse: an allow-list, so
// that a function added by a later release (or one missed here) is refused
// rather than trusted. Names are compared lower-cased (ClickHouse accepts
// several case-insensitively); aggregate combinators are stripped first
// (countIf, uniqArray, sumOrNull…). Nothing here reads another table,
// dictionary, file, setting or the server's state; memory is bounded by
// max_memory_usage, which the sql kind always sets.
var allowedFunctions = map[string]bool{}

func init() {
	for _, group := range []string{
		// operators in function form, conditionals, types
		`plus minus multiply divide intdiv intdivorzero modulo negate abs gcd lcm equals notequals less greater
		 lessorequals greaterorequals and or not xor if multiif isnull isnotnull coalesce ifnull nullif assumenotnull
		 tonullable cast accuratecast touint8 touint16 touint32 touint64 toint8 toint16 toint32 toint64 tofloat32
		 tofloat64 todecimal32 todecimal64 todecimal128 tostring tofixedstring todate todatetime touuid
		 touint8ornull touint64ornull toint64ornull tofloat64ornull todateornull todatetimeornull touint64orzero
		 toint64orzero tofloat64orzero todateorzero todatetimeorzero reinterpretasstring tostringcuttozero
		 totypename ifnotfinite isfinite isinfinite isnan`,
		// math
		`round floor ceil ceiling trunc truncate roundtoexp2 roundduration roundage exp exp2 exp10 log ln log2 log10
		 sqrt cbrt pow power sin cos tan asin acos atan erf erfc lgamma tgamma pi e sign greatest least bitand bitor
		 bitxor bitnot bitshiftleft bitshiftright bitcount`,
		// strings
		`length lengthutf8 char_length character_length empty notempty lower upper lowerutf8 upperutf8 reverse
		 reverseutf8 concat concatassumeinjective substring substr mid substringutf8 appendtrailingcharifabsent
		 startswith endswith trim trimleft trimright trimboth ltrim rtrim position positioncaseinsensitive
		 positionutf8 positioncaseinsensitiveutf8 locate match extract extractall like notlike ilike replaceone
		 replaceall replace replaceregexpone replaceregexpall splitbychar splitbystring splitbyregexp
		 arraystringconcat alphatokens format lcase ucase base64encode base64decode tryb64decode hex unhex md5
		 sha1 sha224 sha256 siphash64 siphash128 cityhash64 inthash32 inthash64 farmhash64 murmurhash2_64
		 murmurhash3_64 xxhash64 crc32 urlencode urldecode decodeurlcomponent encodeurlcomponent domain
		 domainwithoutwww topleveldomain protocol path pathfull querystring fragment extracturlparameter
		 cutquerystring cutfragment cutwww cuturlparameter normalizequery multisearchany multisearchfirstindex
		 multimatchany countsubstrings`,
		// dates and times
		`now today yesterday toyear toquarter tomonth todayofyear todayofmonth todayofweek tohour tominute tosecond
		 tounixtimestamp tostartofyear tostartofquarter tostartofmonth tostartofweek tomonday tostartofday
		 tostartofhour tostartofminute tostartoffiveminute tostartoffifteenminutes tostartofinterval totime
		 torelativeyearnum torelativemonthnum torelativeweeknum torelativedaynum torelativehournum
		 torelativeminutenum torelativesecondnum toyyyymm toyyyymmdd toyyyymmddhhmmss toisoyear toisoweek toweek
		 toyearweek formatdatetime parsedatetimebesteffort parsedatetimebesteffortornull datediff date_diff
		 adddays addhours addminutes addseconds addweeks addmonths addyears addquarters subtractdays
		 subtracthours subtractminutes subtractseconds subtractweeks subtractmonths subtractyears
		 subtractquarters timeslot timeslots tointervalsecond tointervalminute tointervalhour tointervalday
		 tointervalweek tointervalmonth tointervalyear totimezone timezone date_trunc datetrunc`,
		// JSON in properties
		`visitparamhas visitparamextractuint visitparamextractint visitparamextractfloat visitparamextractbool
		 visitparamextractraw visitparamextractstring jsonhas jsonlength jsontype jsonextract jsonextractuint
		 jsonextractint jsonextractfloat jsonextractbool jsonextractstring jsonextractraw jsonextractkeys
		 jsonextractarrayraw jsonextractkeysandvalues isvalidjson simplejsonhas simplejsonextractstring
		 simplejsonextractraw simplejsonextractint simplejsonextractfloat simplejsonextractbool
		 simplejsonextractuint`,
		// arrays, tuples, maps
		`array arrayconcat arrayelement has hasall hasany indexof countequal arrayenumerate arrayenumerateuniq
		 arraypopback arraypopfront arraypushback arraypushfront arrayslice arraysort arrayreversesort arrayuniq
		 arrayjoin arraymap arrayfilter arraycount arrayexists arrayall arraysum arrayavg arraymin arraymax
		 arrayfirst arrayfirstindex arraycumsum arrayreverse arraydistinct arrayintersect arrayreduce
		 arraycompact arrayzip arrayflatten flatten arrayproduct arraystringconcat emptyarraystring
		 emptyarrayuint64 emptyarrayint64 tuple tupleelement untuple map mapkeys mapvalues mapcontains`,
		// uuids and misc
		`generateuuidv4 uuidstringtonum uuidnumtostring rand rand64 randcanonical ipv4numtostring
		 ipv4stringtonum ipv6numtostring tostartofisoyear bar formatreadablesize`,
		// aggregates (combinators are stripped before the lookup)
		`count sum avg min max any anylast anyheavy argmin argmax uniq uniqexact uniqcombined uniqcombined64
		 uniqhll12 uniqtheta median medianexact quantile quantiles quantileexact quantilesexact quantiletiming
		 quantilestiming quantiletdigest quantilestdigest quantiledeterministic quantileexactweighted
		 varsamp varpop stddevsamp stddevpop covarsamp covarpop corr grouparray grouparrayinsertat
		 groupuniqarray grouparraymoving sum grouparraysample groupbitand groupbitor groupbitxor
		 groupbitmap sumwithoverflow summap minmap maxmap topk topkweighted histogram sequencematch
		 sequencecount windowfunnel retention avgweighted boundingratio simplelinearregression
		 stochasticlinearregression entropy skewpop skewsamp kurtpop kurtsamp`,
	} {
		for _, name := range strings.Fields(group) {
			allowedFunctions[name] = true
		}
	}
	// bar's width and formatReadableSize are harmless on ClickHouse
	// (its memory is tracked), but bar's output size is the caller's
	// choice: keep it out.
	delete(allowedFunctions, "bar")
}

// combinators are the aggregate function suffixes ClickHouse combines.
var combinators = []string{"if", "array", "distinct", "ornull", "ordefault", "foreach", "merge", "state", "mergestate"}

// functionAllowed reports whether name may be called.
func functionAllowed(name string) bool {
	lower := strings.ToLower(name)
	for {
		if allowedFunctions[lower] {
			return true
		}
		stripped := false
		for _, c := range combinators {
			if base, ok := strings.CutSuffix(lower, c); ok && base != "" {
				lower, stripped = base, true
				break
			}
		}
		if !stripped {
			return false
		}
	}
}

// notFunctions are keywords that a '(' may follow without a call.
var notFunctions = map[string]bool{"IN": true, "AND": true, "OR": true, "NOT": true, "FROM": true, "JOIN": true,
	"WHERE": true, "PREWHERE": true, "ON": true, "USING": true, "SELECT": true, "WITH": true, "AS": true,
	"CASE": true, "WHEN": true, "THEN": true, "ELSE": true, "BY": true, "HAVING": true, "DISTINCT": true,
	"ALL": true, "ANY": true, "LIKE": true, "ILIKE": true, "BETWEEN": true, "IS": true, "GLOBAL": true,
	"UNION": true, "LIMIT": true, "OFFSET": true, "INTERVAL": true, "EXISTS": true, "ARRAY": true, "END": true,
	"ASC": true, "DESC": true, "NULLS": true, "FIRST": true, "LAST": true, "FINAL": true, "SAMPLE": true,
	"INNER": true, "LEFT": true, "RIGHT": true, "FULL": true, "CROSS": true, "OUTER": true, "SEMI": true,
	"ANTI": true, "ASOF": true}
