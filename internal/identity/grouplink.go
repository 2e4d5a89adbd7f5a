package identity

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/store"
)

// A Segment group call associates its person with the group: analytics.js
// sends the group id once, not on later calls, so those are stored with the
// group in $groups unless they carry $groups themselves, as Segment's
// Mixpanel and Amplitude destinations do. posthog-js repeats $groups on
// every event, so only calls marked event.PropSegmentGroup count.
//
// A person keeps one link, its latest group call: the greatest (timestamp,
// type, key), the order the stores derive the links by at start-up
// (store.GroupLink), so a restart keeps exactly what was in memory. When two
// persons merge, the survivor keeps the later of the two links, which is
// also what the start-up derivation finds once the override applies.
//
// Only persons that made a group call have an entry, so the map is bounded
// by them, not by distinct ids.

// maxLinkString bounds a link's type and key, as capture bounds distinct
// ids, so that one person cannot pin a megabyte of loader memory.
const maxLinkString = 200

type groupLink struct {
	typ, key string
	at       int64 // unix microseconds, the precision both stores keep
}

// after orders links as the stores' max((at, type, key)) does.
func (l groupLink) after(o groupLink) bool {
	if l.at != o.at {
		return l.at > o.at
	}
	if l.typ != o.typ {
		return l.typ > o.typ
	}
	return l.key > o.key
}

func validLink(typ, key string) bool {
	return typ != "" && key != "" && len(typ) <= maxLinkString && len(key) <= maxLinkString
}

// loadLinks keeps, per surviving person, the latest stored link.
func loadLinks(st store.Identity) map[int64]groupLink {
	links := map[int64]groupLink{}
	if len(st.GroupLinks) == 0 {
		return links
	}
	survivor := make(map[int64]int64, len(st.Overrides))
	for _, o := range st.Overrides {
		survivor[o.OldPersonID] = o.PersonID // overrides point at the final survivor
	}
	for _, g := range st.GroupLinks {
		if !validLink(g.Type, g.Key) || g.PersonID <= 0 {
			continue
		}
		p := g.PersonID
		if s, ok := survivor[p]; ok {
			p = s
		}
		l := groupLink{typ: g.Type, key: g.Key, at: g.At.UnixMicro()}
		if cur, ok := links[p]; !ok || l.after(cur) {
			links[p] = l
		}
	}
	return links
}

// noteGroupCall links person to the group of a marked $groupidentify.
func (r *Resolver) noteGroupCall(person int64, props map[string]any, at time.Time) {
	if marked, _ := props[event.PropSegmentGroup].(bool); !marked || person <= 0 {
		return
	}
	typ, _ := props[event.PropGroupType].(string)
	key, _ := props[event.PropGroupKey].(string)
	if !validLink(typ, key) {
		return
	}
	l := groupLink{typ: typ, key: key, at: at.UnixMicro()}
	if cur, ok := r.links[person]; !ok || l.after(cur) {
		r.links[person] = l
	}
}

// moveLink gives the survivor of a merge the later of the two links.
func (r *Resolver) moveLink(from, into int64) {
	l, ok := r.links[from]
	if !ok {
		return
	}
	delete(r.links, from)
	if cur, ok := r.links[into]; !ok || l.after(cur) {
		r.links[into] = l
	}
}

// withLink returns props with the person's linked group as $groups when
// the event carries no $groups of its own.
func (r *Resolver) withLink(person int64, props json.RawMessage) json.RawMessage {
	l, ok := r.links[person]
	if !ok || hasTopKey(props, event.PropGroups) {
		return props
	}
	groups, _ := json.Marshal(map[string]map[string]string{event.PropGroups: {l.typ: l.key}})
	return prependMembers(props, groups)
}

// hasTopKey reports whether the JSON object obj has key at its top level.
// Capture writes properties with encoding/json, which spells a key made of
// letters and '$' literally, so comparing the raw bytes is exact.
func hasTopKey(obj []byte, key string) bool {
	depth, keyNext := 0, false
	for i := 0; i < len(obj); i++ {
		switch obj[i] {
		case '"':
			end := stringEnd(obj, i)
			if depth == 1 && keyNext && string(obj[i+1:end]) == key {
				return true
			}
			keyNext = false
			i = end
		case '{':
			depth++
			keyNext = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			keyNext = depth == 1
		}
	}
	return false
}

// stringEnd returns the index of the quote closing the string opened at i.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(b)
}

// prependMembers puts the members of the JSON object members first in obj
// (first, because ClickHouse's visitParam functions read the first match).
// obj has none of those keys; an empty or null obj becomes members.
func prependMembers(obj, members []byte) json.RawMessage {
	body := bytes.TrimSpace(obj)
	if len(body) < 2 || body[0] != '{' {
		return members
	}
	rest := bytes.TrimSpace(body[1:])
	inner := members[1 : len(members)-1]
	out := make([]byte, 0, len(members)+len(rest)+1)
	out = append(append(out, '{'), inner...)
	if rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}
