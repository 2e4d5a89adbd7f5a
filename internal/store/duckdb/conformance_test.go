package duckdb

import (
	"testing"

	"github.com/journey-dev/journey/internal/store"
	"github.com/journey-dev/journey/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return testdb(t) })
}
