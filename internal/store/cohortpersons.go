package store

// Store.CohortPersons returns the persons of a cohort definition as of
// asOf, with ids above after, by id ascending, at most limit
// (1..MaxCohortPage): a behavioural cohort counts the events in the Days
// before asOf with merges applied as in cohort filters; a static one is
// the current persons of its distinct ids; "did not" is every current
// person of the project but those who did. A caller streams a large cohort
// page by page, going on after the last id of each, so memory stays
// bounded by the page. An action the definition names must be resolved
// (its steps given), else it matches nothing.

// CohortPerson is a member of a cohort: a current person (merged-away
// persons are none) and one of its distinct ids, the least, so that every
// store answers the same one and a message can be addressed by it.
type CohortPerson struct {
	ID         int64
	DistinctID string
}

// MaxCohortPage bounds one CohortPersons call.
const MaxCohortPage = 10_000
