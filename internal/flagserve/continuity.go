package flagserve

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/journey-dev/journey/internal/flags"
	"github.com/journey-dev/journey/internal/meta"
)

// Experience continuity: a flag with ensure_experience_continuity buckets
// a person by the hash key stored for their distinct id (meta's
// flag_hash_keys: one row per distinct id and flag, the first written
// wins and is never overwritten), which is the anonymous id they were
// first evaluated with. As in PostHog, where overrides belong to persons,
// rows are written only for distinct ids of persons the event store has,
// so that made-up ids (anyone holding the public token can send them)
// create no rows and cannot pin the bucket of a person not seen yet:
//
//   - On identify (a request with $anon_distinct_id), the flags are
//     evaluated with the distinct id's hash key, else the anonymous id's,
//     else the anonymous id itself. The distinct id gets rows when it is
//     a stored person; otherwise (its $identify is usually still on its
//     way) the anonymous id gets them, when it is a stored person.
//   - Later, a distinct id without rows reads those of the person's other
//     distinct ids (at most maxLinkedIDs of them; the identified person
//     holds the anonymous id by then) and copies what it finds to its
//     own rows, so that the next request reads one row.
//   - When neither id was a stored person at identify (the visitor's
//     events are still on their way to the event store), the replica
//     remembers the anonymous id for a while (bounded, per project
//     share): once the store shows the distinct id's person holding that
//     anonymous id — the merge happened — the anonymous id's bucket is
//     recorded for the distinct id. A made-up pair never merges, so it
//     still writes nothing.
//
// Writes are only of rows that do not exist yet (FlagHashKeys is read
// first, and the ids that have rows are cached: rows never change; the
// linked ids that have none too, briefly), and
// at most Options.HashKeyWrites a second per client (HashKeyBurst at
// once); a write refused or failed leaves the answer as evaluated and
// says errorsWhileComputingFlags.

// maxLinkedIDs bounds the other distinct ids of a person whose hash keys
// one request reads.
const maxLinkedIDs = 8

// hashKeyTTL: rows never change, so cached ones only go to make room (or
// after this, in case a flag was deleted and its key reused).
const hashKeyTTL = 10 * time.Minute

// self looks up the request's person. On identify the store is asked
// whatever is cached (an unknown person cached by an earlier request may
// exist by now), and an unknown person is not cached: its $identify is on
// its way.
func (s *Service) self(ctx context.Context, sn *snapshot, req *Request, ans *Answer) person {
	identify := req.AnonDistinctID != "" && req.AnonDistinctID != req.DistinctID
	p, err := s.person(ctx, sn, req.ProjectID, req.DistinctID, identify)
	if err != nil {
		slog.Warn("cannot read a person's properties for flags; using the request's", "project", req.ProjectID, "err", err)
		ans.Errored = true
	}
	return p
}

// hashKeys returns the hash key of each continuity flag of list for the
// request (none: the distinct id), recording them as described above.
func (s *Service) hashKeys(ctx context.Context, sn *snapshot, req *Request, list []*flags.Compiled, self func() person, ans *Answer) map[string]string {
	distinct := req.DistinctID
	if len(sn.continuity) == 0 || distinct == "" || !ValidDistinctID(distinct) {
		return nil
	}
	var need []string
	for _, c := range list {
		if c.Flag().EnsureExperienceContinuity {
			need = append(need, c.Key())
		}
	}
	if len(need) == 0 {
		return nil
	}
	own, err := s.readHashKeys(ctx, req.ProjectID, distinct, need)
	if err != nil {
		slog.Warn("cannot read flag hash keys", "project", req.ProjectID, "err", err)
		ans.Errored = true
		return nil
	}
	out := make(map[string]string, len(need))
	for _, k := range need {
		if v, ok := own[k]; ok {
			out[k] = v
		}
	}
	if anon := req.AnonDistinctID; anon != "" && anon != distinct && ValidDistinctID(anon) {
		s.identify(ctx, sn, req, own, out, need, self, ans)
		return out
	}
	if len(out) == len(need) {
		return out
	}
	me := self()
	if !me.stored {
		return out
	}
	found := map[string]string{}
	read := 0
	for _, id := range me.ids {
		if id == distinct || !ValidDistinctID(id) {
			continue
		}
		if read++; read > maxLinkedIDs {
			break
		}
		rows, err := s.readLinkedHashKeys(ctx, req.ProjectID, id, need)
		if err != nil {
			slog.Warn("cannot read flag hash keys", "project", req.ProjectID, "err", err)
			ans.Errored = true
			break
		}
		for _, k := range need {
			if _, ok := out[k]; !ok && rows[k] != "" {
				out[k], found[k] = rows[k], rows[k]
			}
		}
		if len(out) == len(need) {
			break
		}
	}
	if len(out) < len(need) {
		s.adoptIdentified(req, me, out, found, need)
	}
	if len(found) > 0 {
		s.writeHashKeys(ctx, req, distinct, found, ans)
	}
	return out
}

// identifiedTTL is how long an identify whose ids were not stored yet is
// remembered: long enough for its events to be loaded.
const identifiedTTL = 10 * time.Minute

// adoptIdentified completes out and found with the anonymous id an
// earlier identify of this distinct id remembered, once the distinct
// id's person holds it (me, a stored person).
func (s *Service) adoptIdentified(req *Request, me person, out, found map[string]string, need []string) {
	key := cacheKey(req.ProjectID, req.DistinctID)
	anon, ok := s.identified.get(key, s.opt.Now())
	if !ok {
		return
	}
	merged := false
	for _, id := range me.ids {
		merged = merged || id == anon
	}
	if !merged {
		return
	}
	s.identified.remove(key)
	for _, k := range need {
		if _, ok := out[k]; !ok {
			out[k], found[k] = anon, anon
		}
	}
}

// identify completes out (the distinct id's own hash keys) with the
// anonymous id's, or the anonymous id, and records them for whichever of
// the two ids is a stored person.
func (s *Service) identify(ctx context.Context, sn *snapshot, req *Request, own, out map[string]string, need []string, self func() person, ans *Answer) {
	anon := req.AnonDistinctID
	me := self()
	var other person
	if !me.stored {
		var err error
		// Fresh too: the anonymous visitor's own first /flags may have
		// found no person yet.
		if other, err = s.person(ctx, sn, req.ProjectID, anon, true); err != nil {
			slog.Warn("cannot read a person for flag hash keys", "project", req.ProjectID, "err", err)
			ans.Errored = true
		}
	}
	var anonRows map[string]string
	if len(out) < len(need) || other.stored {
		var err error
		if anonRows, err = s.readHashKeys(ctx, req.ProjectID, anon, sn.continuity); err != nil {
			slog.Warn("cannot read flag hash keys", "project", req.ProjectID, "err", err)
			ans.Errored = true
		}
	}
	valueOf := func(k string) string {
		if v := anonRows[k]; v != "" {
			return v
		}
		return anon
	}
	for _, k := range need {
		if _, ok := out[k]; !ok {
			out[k] = valueOf(k)
		}
	}
	switch {
	case me.stored:
		want := map[string]string{}
		for _, k := range sn.continuity {
			if _, ok := own[k]; !ok {
				want[k] = valueOf(k)
			}
		}
		if len(want) == 0 || !s.writeHashKeys(ctx, req, req.DistinctID, want, ans) {
			return
		}
		// The first bucket wins: another request may have written first.
		rows, err := s.readHashKeys(ctx, req.ProjectID, req.DistinctID, need)
		if err != nil {
			slog.Warn("cannot read flag hash keys", "project", req.ProjectID, "err", err)
			ans.Errored = true
			return
		}
		for _, k := range need {
			if v := rows[k]; v != "" {
				out[k] = v
			}
		}
	case other.stored:
		want := map[string]string{}
		for _, k := range sn.continuity {
			if _, ok := anonRows[k]; !ok {
				want[k] = anon
			}
		}
		if len(want) > 0 {
			s.writeHashKeys(ctx, req, anon, want, ans)
		}
	default:
		// Neither is stored yet: remember the pair until the store
		// shows the merge (adoptIdentified).
		key := cacheKey(req.ProjectID, req.DistinctID)
		s.identified.put(req.ProjectID, key, anon, len(key)+len(anon)+64, s.opt.Now().Add(identifiedTTL), false)
	}
}

// readHashKeys is FlagHashKeys through the cache: a cached answer is used
// when it has every key of need (rows are never overwritten, so what it
// has is current); answers with rows are cached.
func (s *Service) readHashKeys(ctx context.Context, projectID int64, id string, need []string) (map[string]string, error) {
	key := cacheKey(projectID, id)
	now := s.opt.Now()
	if hk, ok := s.hashKeyCache.get(key, now); ok && covers(hk, need) {
		return hk, nil
	}
	hk, err := s.meta.FlagHashKeys(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	if len(hk) > 0 {
		size := len(key) + 64
		for k, v := range hk {
			size += len(k) + len(v) + 32
		}
		s.hashKeyCache.put(projectID, key, hk, size, now.Add(hashKeyTTL), false)
	}
	return hk, nil
}

// readLinkedHashKeys is readHashKeys for another distinct id of the
// person, whose answer is cached when empty too (for PersonTTL, within
// the project's budget of negative entries), so that a person with many
// ids and no rows does not cost reads on every request. Only identify
// requests write rows for such an id, and they write the asking id's
// rows when its person is stored, as it is whenever linked ids are read.
func (s *Service) readLinkedHashKeys(ctx context.Context, projectID int64, id string, need []string) (map[string]string, error) {
	key := cacheKey(projectID, id)
	now := s.opt.Now()
	if hk, ok := s.hashKeyCache.get(key, now); ok && (len(hk) == 0 || covers(hk, need)) {
		return hk, nil
	}
	hk, err := s.readHashKeys(ctx, projectID, id, need)
	if err == nil && len(hk) == 0 {
		s.hashKeyCache.put(projectID, key, map[string]string{}, len(key)+64, now.Add(s.opt.PersonTTL), true)
	}
	return hk, err
}

func covers(hk map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := hk[k]; !ok {
			return false
		}
	}
	return true
}

// writeHashKeys records want (flag key → hash key) for id where id has no
// row yet, within the client's write budget; false when some was not
// written.
func (s *Service) writeHashKeys(ctx context.Context, req *Request, id string, want map[string]string, ans *Answer) bool {
	byValue := map[string][]string{}
	for k, v := range want {
		byValue[v] = append(byValue[v], k)
	}
	values := make([]string, 0, len(byValue))
	for v := range byValue {
		values = append(values, v)
	}
	sort.Strings(values)
	defer s.hashKeyCache.remove(cacheKey(req.ProjectID, id))
	for _, v := range values {
		keys := byValue[v]
		sort.Strings(keys)
		for i := 0; i < len(keys); i += meta.MaxHashKeyPairs {
			if ok, _ := s.writes.Allow(req.Client); !ok {
				slog.Debug("flag hash keys not recorded: the client's writes are over their rate", "project", req.ProjectID)
				ans.Errored = true
				return false
			}
			chunk := keys[i:min(i+meta.MaxHashKeyPairs, len(keys))]
			if err := s.meta.SetFlagHashKeys(ctx, req.ProjectID, []string{id}, chunk, v); err != nil {
				if !errors.Is(err, meta.ErrInvalid) {
					slog.Warn("cannot record flag hash keys", "project", req.ProjectID, "err", err)
				}
				ans.Errored = true
				return false
			}
		}
	}
	return true
}

// boundPayloads leaves out the payloads past Options.MaxAnswerPayloads
// bytes (in key order), saying errorsWhileComputingFlags.
func (s *Service) boundPayloads(projectID int64, ans *Answer) {
	total, dropped := 0, 0
	for i := range ans.Results {
		r := &ans.Results[i]
		if !r.Enabled || r.Payload == nil {
			continue
		}
		if total += len(r.Payload); total > s.opt.MaxAnswerPayloads {
			r.Payload = nil
			dropped++
		}
	}
	if dropped > 0 {
		slog.Warn("payloads left out of a flags answer over its size bound", "project", projectID, "left_out", dropped,
			"payload_bytes", total, "bound", s.opt.MaxAnswerPayloads)
		ans.Errored = true
	}
}
