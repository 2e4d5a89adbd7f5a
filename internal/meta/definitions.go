package meta

import (
	"context"
	"time"
)

// Kinds of property definitions, and of the definitions_dropped counts.
const (
	DefinitionEvent          = "event"           // definitions_dropped: event names
	PropertiesOfEvents       = "event"           // property_definitions.kind
	PropertiesOfPersons      = "person"          // property_definitions.kind
	DroppedEventProperties   = "event_property"  // definitions_dropped.kind
	DroppedPersonProperties  = "person_property" // definitions_dropped.kind
	MaxDefinitionsPerKind    = 10000             // distinct names a project keeps per kind
	MaxDefinitionNameBytes   = 400               // longer names are dropped (counted)
	MaxDefinitionsListLength = 1000              // one list answer at most
)

// Property value types, PostHog's names (the first type seen is kept).
const (
	TypeString   = "String"
	TypeNumeric  = "Numeric"
	TypeBoolean  = "Boolean"
	TypeDateTime = "DateTime"
	TypeObject   = "Object"
	TypeArray    = "Array"
)

// EventDefinition is an event name a project has sent: the earliest and
// latest event times seen and how many events carried it.
type EventDefinition struct {
	ProjectID int64
	Name      string
	FirstSeen time.Time
	LastSeen  time.Time
	Volume    int64
}

// PropertyDefinition is a top-level property key of a project's events
// (Kind "event") or persons (Kind "person"), with the type of its first
// value seen; Volume counts the events (persons) carrying it.
type PropertyDefinition struct {
	ProjectID int64
	Kind      string
	Name      string
	Type      string
	FirstSeen time.Time
	LastSeen  time.Time
	Volume    int64
}

// DefinitionsBatch is what the loader aggregated from one applied batch:
// each (project, name) and (project, kind, name) at most once.
type DefinitionsBatch struct {
	Events     []EventDefinition
	Properties []PropertyDefinition
}

// DefinitionQuery selects a page of a definitions list, most used first.
type DefinitionQuery struct {
	Search string // substring of the name; "" is every name
	Limit  int    // 1..MaxDefinitionsListLength (0: the maximum)
	Offset int
}

// DefinitionStore keeps the event and property definitions maintained at
// ingest (issue 17 item 6), so that pickers list every name rather than a
// sample's.
type DefinitionStore interface {
	// UpsertDefinitions merges a batch in: earliest first seen, latest
	// last seen, volumes added, the stored type kept. A project keeps at
	// most MaxDefinitionsPerKind names per kind; names beyond it (and
	// names longer than MaxDefinitionNameBytes) are counted as dropped.
	UpsertDefinitions(ctx context.Context, b DefinitionsBatch) error
	// EventDefinitions answers a page and the count of all matches.
	EventDefinitions(ctx context.Context, projectID int64, q DefinitionQuery) ([]EventDefinition, int, error)
	// PropertyDefinitions answers a page of kind's definitions and the
	// count of all matches.
	PropertyDefinitions(ctx context.Context, projectID int64, kind string, q DefinitionQuery) ([]PropertyDefinition, int, error)
	// DefinitionsDropped answers the dropped counts by kind (event,
	// event_property, person_property); kinds with none are absent.
	DefinitionsDropped(ctx context.Context, projectID int64) (map[string]int64, error)
}
