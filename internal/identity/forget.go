package identity

import "math"

// forgotten is the person of an entry whose distinct id was forgotten: no
// person ever has it (personless ids are at least math.MinInt64+1).
const forgotten = math.MinInt64

// Forget drops what the resolver holds of the persons that own the given
// distinct ids of a project (a person's deletion, internal/privacy): every
// distinct id of each such person, the persons merged into it and its
// group link. A later event with one of those ids finds none and starts a
// new person, under a new id, as if the id had never been seen. The
// entries stay in the table as tombstones that lookups skip (ids.go): a
// table without deletion stays simple and a deletion is rare. It returns
// the persons forgotten.
func (r *Resolver) Forget(project int64, distinctIDs []string) []int64 {
	var persons []int64
	for _, id := range distinctIDs {
		i, ok := r.ids.find(project, id)
		if !ok {
			continue
		}
		person := r.ids.entries[i].person
		r.ids.forgetCircle(i)
		delete(r.oldOf, person)
		delete(r.links, person)
		delete(r.identified, person)
		persons = append(persons, person)
	}
	return persons
}

// forgetCircle makes every entry of i's person a tombstone, each alone in
// its circle, so that a tombstone never links to a live entry.
func (t *idTable) forgetCircle(i uint32) {
	for j := i; ; {
		e := &t.entries[j]
		next := e.next
		e.person, e.next = forgotten, j
		if next == i {
			return
		}
		j = next
	}
}

// Personless is the person id events of a distinct id are stored with
// while it has no person ($process_person_profile: false); a merge that
// gives the id a person adopts them by an override from this id.
func Personless(project int64, distinctID string) int64 { return personless(project, distinctID) }
