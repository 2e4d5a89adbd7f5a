// Package event defines the normalized event that flows from capture through
// the event log into the stores. Every SDK format is decoded into this shape.
package event

import (
	"encoding/json"
	"time"
)

// Event is one captured event after decoding, validation and clock-skew
// correction. It is what the durable log stores and what loaders read.
type Event struct {
	// UUID is the dedup key: the client's uuid (PostHog) or a UUID derived
	// from messageId (Segment), or a fresh one when the client sent none.
	UUID       string         `json:"uuid"`
	Event      string         `json:"event"`
	DistinctID string         `json:"distinct_id"`
	Timestamp  time.Time      `json:"timestamp"`
	Properties map[string]any `json:"properties,omitempty"`
	// Set, SetOnce and Unset are person property changes carried by the event
	// ($set, $set_once, $unset), taken from the root or from properties.
	Set     map[string]any `json:"$set,omitempty"`
	SetOnce map[string]any `json:"$set_once,omitempty"`
	Unset   []string       `json:"$unset,omitempty"`
	// NoPerson is true for $process_person_profile: false.
	NoPerson   bool      `json:"no_person,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// Batch is what one capture request, import chunk or demo chunk appends to the
// event log: events of a single project.
type Batch struct {
	ProjectID int64   `json:"project_id"`
	Events    []Event `json:"events"`
}

// Names of special events and properties used across packages.
const (
	Identify      = "$identify"
	CreateAlias   = "$create_alias"
	GroupIdentify = "$groupidentify"
	Pageview      = "$pageview"
	Screen        = "$screen"
	Set           = "$set"
	PropAnonID    = "$anon_distinct_id"
	PropAlias     = "alias"
	PropGroupType = "$group_type"
	PropGroupKey  = "$group_key"
	PropGroupSet  = "$group_set"
	PropGroups    = "$groups"
	PropSessionID = "$session_id"
	// PropSegmentGroup (true) marks a $groupidentify decoded from a Segment
	// group call: it associates the person with the group, because
	// analytics.js does not repeat the group on later calls.
	PropSegmentGroup = "$segment_group"
)

// Raw is an Event as the loader reads it back from the log: the properties
// stay encoded JSON, so they are stored without being decoded and re-encoded.
type Raw struct {
	UUID       string          `json:"uuid"`
	Event      string          `json:"event"`
	DistinctID string          `json:"distinct_id"`
	Timestamp  time.Time       `json:"timestamp"`
	Properties json.RawMessage `json:"properties,omitempty"`
	Set        map[string]any  `json:"$set,omitempty"`
	SetOnce    map[string]any  `json:"$set_once,omitempty"`
	Unset      []string        `json:"$unset,omitempty"`
	NoPerson   bool            `json:"no_person,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}

// RawBatch is a Batch read back from the log.
type RawBatch struct {
	ProjectID int64 `json:"project_id"`
	Events    []Raw `json:"events"`
}
