# `make test` installs what the tests need, then runs every test (the fuzz
# targets' seed corpora included). CI runs exactly this (.ci/run).
GO ?= go

.PHONY: test deps vet build demo fuzz bench vendor-sdk

test: deps vet
	$(GO) test -count=1 -timeout 30m ./...

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal e2e web)" || (echo "gofmt needed:"; gofmt -l cmd internal e2e web; exit 1)

build:
	$(GO) build -o journey ./cmd/journey

demo:
	$(GO) run ./cmd/journey demo

# Re-vendors the posthog-js bundles Journey embeds and serves (surveys.js
# included) from the npm release pinned in scripts/vendor-sdk.sh.
vendor-sdk:
	./scripts/vendor-sdk.sh

# Longer fuzzing of every decoder (the seeds also run in `make test`).
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecodePostHog -fuzztime=60s ./internal/capture/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeSegment -fuzztime=60s ./internal/capture/
	$(GO) test -run='^$$' -fuzz=FuzzSegmentSettings -fuzztime=30s ./internal/capture/
	$(GO) test -run='^$$' -fuzz=FuzzDecompressLZBase64 -fuzztime=60s ./internal/capture/
	$(GO) test -run='^$$' -fuzz=FuzzElementsChain -fuzztime=60s ./internal/capture/
	$(GO) test -run='^$$' -fuzz=FuzzSelectorRegex -fuzztime=60s ./internal/insight/
	$(GO) test -run='^$$' -fuzz=FuzzUserAgent -fuzztime=60s ./internal/enrich/
	$(GO) test -run='^$$' -fuzz=FuzzClientIP -fuzztime=60s ./internal/enrich/
	$(GO) test -run='^$$' -fuzz=FuzzTruncate -fuzztime=30s ./internal/enrich/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeFlagsRequest -fuzztime=60s ./internal/websdk/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeOFREP -fuzztime=60s ./internal/websdk/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeFlag -fuzztime=60s ./internal/flags/
	$(GO) test -run='^$$' -fuzz=FuzzCompileCohorts -fuzztime=30s ./internal/flags/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeFlagBody -fuzztime=30s ./internal/api/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeFlagPatch -fuzztime=30s ./internal/api/
	$(GO) test -run='^$$' -fuzz=FuzzExperimentBody -fuzztime=30s ./internal/api/
	$(GO) test -run='^$$' -fuzz=FuzzPersonalKeyRequests -fuzztime=30s ./internal/api/
	$(GO) test -run='^$$' -fuzz=FuzzParseSurvey -fuzztime=30s ./internal/voc/
	$(GO) test -run='^$$' -fuzz=FuzzSurveyResponses -fuzztime=30s ./internal/voc/
	$(GO) test -run='^$$' -fuzz=FuzzParseSLA -fuzztime=30s ./internal/voc/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeNotify -fuzztime=30s ./internal/voc/
	$(GO) test -run='^$$' -fuzz=FuzzCompare -fuzztime=60s ./internal/stats/
	$(GO) test -run='^$$' -fuzz=FuzzParseExperiment -fuzztime=30s ./internal/insight/
	for t in FuzzParseFunnel FuzzParseRetention FuzzParseStickiness FuzzParseLifecycle FuzzParseBadDays; do \
		$(GO) test -run='^$$' -fuzz=$$t -fuzztime=30s ./internal/insight/ || exit 1; done
	$(GO) test -run='^$$' -fuzz=FuzzQuery -fuzztime=60s ./internal/app/
	$(GO) test -run='^$$' -fuzz=FuzzUIBodies -fuzztime=60s ./internal/app/
	$(GO) test -run='^$$' -fuzz=FuzzScopeSQL -fuzztime=60s ./internal/store/clickhouse/
	$(GO) test -run='^$$' -fuzz=FuzzSQL -fuzztime=60s ./internal/store/duckdb/

bench: build
	./journey bench ingest
	JOURNEY_CRASH_ROUNDS=20 $(GO) test -count=1 -run Kill9 -v ./e2e/
