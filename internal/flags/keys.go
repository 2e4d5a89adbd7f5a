package flags

// PersonKeys adds to keys every person property key c's conditions read
// (person properties, and untyped ones of person-aggregated conditions):
// an evaluation of c reads no other key of Subject.PersonProperties, so a
// server may keep only these keys of its persons (flagserve's person
// index). Cohort filters read what the cohorts' definitions do
// (Cohorts.PersonKeys).
func (c *Compiled) PersonKeys(keys map[string]struct{}) {
	for i := range c.conds {
		cd := &c.conds[i]
		for j := range cd.props {
			p := &cd.props[j]
			if p.src == srcPerson || (p.src == srcDefault && cd.agg < 0) {
				keys[p.key] = struct{}{}
			}
		}
	}
}

// PersonKeys adds to keys every person property key the cohort
// definitions read (Compiled.PersonKeys).
func (c *Cohorts) PersonKeys(keys map[string]struct{}) {
	if c == nil {
		return
	}
	for _, d := range c.defs {
		d.root.personKeys(keys, 0)
	}
}

func (g *cgroup) personKeys(keys map[string]struct{}, depth int) {
	if depth > maxCohortDepth {
		return // the compiler refused deeper nesting
	}
	for i := range g.items {
		switch it := &g.items[i]; {
		case it.group != nil:
			it.group.personKeys(keys, depth+1)
		case it.prop.src != srcCohort:
			keys[it.prop.key] = struct{}{}
		}
	}
}
