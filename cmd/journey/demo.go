package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/journey-dev/journey/internal/api"
	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/demo"
	"github.com/journey-dev/journey/internal/insight"
	"github.com/journey-dev/journey/internal/meta"
)

func cmdDemo(args []string) error {
	var cfg app.Config
	var count, days int
	var seed int
	var noServe bool
	f := newFlags("demo")
	appFlags(f, &cfg)
	f.integer(&count, "count", 1_000_000, "number of demo events to generate")
	f.integer(&days, "days", 60, "days of history to generate")
	f.integer(&seed, "seed", 42, "random seed (same seed, same data)")
	f.boolean(&noServe, "no-serve", false, "load the data and exit without serving")
	var password string
	f.str(&password, "password", "", "password of the demo admin user admin@journey.local (default: a fresh random one at each start)")
	if err := f.parse(args); err != nil {
		return err
	}
	if count < 1000 || days < 1 {
		return fmt.Errorf("invalid --count %d / --days %d: want at least 1000 events and 1 day", count, days)
	}
	if cfg.AdminKey == "" {
		cfg.AdminKey = randomKey()
	}
	// The demo data is regenerated on a fresh data dir only; fsync is not
	// needed for generated data, so skip it while loading.
	cfg.NoSync = true
	// The shop's campaign history is recorded as the trigger engine and
	// the sender would have made it (demo.Act): neither runs while the
	// demo loads; they start with the server, and the log is kept whole
	// until then for the log's other consumers (the detractors' answers).
	campaigns := cfg.Campaigns
	cfg.Campaigns = false
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer func() { a.Close() }()
	a.Loader.SetTrimFloor(func() uint64 { return 0 })
	ctx := context.Background()
	shop, shopSecret, saas, saasSecret, err := demoProjects(ctx, a.Meta)
	if err != nil {
		return err
	}
	if password == "" {
		password = randomKey()[:16]
	}
	owner, err := demoUser(ctx, a.Meta, password)
	if err != nil {
		return err
	}
	if shopSecret != "" || saasSecret != "" { // newly created: fill them
		if err := loadDemo(ctx, a, shop, saas, owner, count, days, uint64(seed)); err != nil {
			return err
		}
	} else {
		fmt.Println("Demo projects already exist in", cfg.DataDir, "- keeping their data (delete the directory to regenerate).")
		// Secrets are stored hashed; issue fresh ones so the login can be printed.
		if shopSecret, err = a.Meta.CreateKey(ctx, shop.ID); err != nil {
			return err
		}
		if saasSecret, err = a.Meta.CreateKey(ctx, saas.ID); err != nil {
			return err
		}
	}
	login := func(url string) {
		printLogin(url, cfg, shop, shopSecret, saas, saasSecret)
		fmt.Printf("\nWeb UI: %s  (log in as %s, password %s)\n", url, demoEmail, password)
	}
	if noServe {
		login("(not serving)")
		return nil
	}
	if campaigns {
		a.Close()
		cfg.Campaigns = true
		if a, err = app.Open(cfg); err != nil {
			return err
		}
	}
	return serve(a, login)
}

const demoEmail = "admin@journey.local"

// demoUser creates the demo's server admin, or gives it the new password
// when it exists (passwords are stored hashed, so the old one cannot be
// printed again); it returns the user's id.
func demoUser(ctx context.Context, m meta.Store, password string) (int64, error) {
	hash, err := api.HashPassword(password)
	if err != nil {
		return 0, fmt.Errorf("invalid --password: %w", err)
	}
	u, err := m.UserByEmail(ctx, demoEmail)
	if errors.Is(err, meta.ErrNotFound) {
		u, err = m.CreateUser(ctx, demoEmail, hash, true)
		return u.ID, err
	}
	if err != nil {
		return 0, err
	}
	return u.ID, m.SetPassword(ctx, u.ID, hash)
}

func randomKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "jak_" + hex.EncodeToString(b)
}

// demoProjects returns the shop and SaaS demo projects, creating them when
// missing; the secrets are empty for projects that already existed.
func demoProjects(ctx context.Context, m meta.Store) (shop meta.Project, shopSecret string, saas meta.Project, saasSecret string, err error) {
	ps, err := m.Projects(ctx)
	if err != nil {
		return
	}
	for _, p := range ps {
		switch p.Name {
		case "Demo shop":
			shop = p
		case "Demo SaaS":
			saas = p
		}
	}
	if shop.ID == 0 {
		if shop, shopSecret, err = m.CreateProject(ctx, "Demo shop", "Europe/Berlin"); err != nil {
			return
		}
	}
	if saas.ID == 0 {
		saas, saasSecret, err = m.CreateProject(ctx, "Demo SaaS", "UTC")
	}
	return
}

// loadDemo generates and loads the demo events; the shop's flags and
// experiments (demo.Lab, owned by user owner) are stored before its
// events, which are bucketed by them, and the concluded experiments are
// stopped once the events are loaded, so their frozen results are the
// real engine's.
func loadDemo(ctx context.Context, a *app.App, shop, saas meta.Project, owner int64, events, days int, seed uint64) error {
	start := time.Now()
	bar := progressbar.NewOptions(events,
		progressbar.OptionSetDescription("Generating and loading demo events"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	// The bar tracks loaded events, so it ends when the data is queryable.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				n, _ := a.Events.CountEvents(ctx, 0)
				bar.Set(int(n))
			}
		}
	}()
	o := demo.Options{Seed: seed, End: time.Now(), Days: days}
	lab, act := demo.NewShopLab(o), demo.NewShopAct(o)
	if lab != nil {
		if err := lab.Store(ctx, a.Meta, shop.ID, owner); err != nil {
			return err
		}
		o.Lab = lab // the SaaS has no flags
	}
	nShop := events * 4 / 5
	if _, err := demo.Shop(ctx, shop.ID, a.Log.Append, o, nShop, nil); err != nil {
		return err
	}
	if act != nil {
		if err := act.Events(ctx, shop.ID, a.Log.Append, o); err != nil {
			return err
		}
	}
	if _, err := demo.SaaS(ctx, saas.ID, a.Log.Append, o, events-nShop, nil); err != nil {
		return err
	}
	if err := demoActions(ctx, a.Meta, shop.ID); err != nil {
		return err
	}
	err := a.Loader.Sync(ctx)
	close(stop)
	bar.Finish()
	if err != nil {
		return err
	}
	if lab != nil {
		if err := lab.Conclude(ctx, a.Meta, a.Events, shop); err != nil {
			return err
		}
	}
	if act != nil {
		base := a.Config.PublicURL
		if base == "" && a.Config.Addr != "" {
			base = "http://" + a.Config.Addr
		}
		if err := act.Run(ctx, demo.ActEnv{Meta: a.Meta, Events: a.Events, Sink: a.Log.Append, Sync: a.Loader.Sync, Handler: a.Handler,
			Project: shop, Owner: owner, BaseURL: strings.TrimRight(base, "/"), Seed: seed}); err != nil {
			return err
		}
	}
	// The SaaS's voice of customer (demo/voc.go): feedback, an NPS survey, SLA history.
	vs, err := demo.VoC(ctx, demo.VoCEnv{Meta: a.Meta, Events: a.Events, Sink: a.Log.Append, Sync: a.Loader.Sync, Project: saas, Seed: seed, End: o.End})
	if err != nil {
		return err
	}
	n, err := a.Events.CountEvents(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Printf("Loaded %d demo events in %s.\n", n, time.Since(start).Round(100*time.Millisecond))
	if lab != nil {
		fmt.Println("Demo shop experiments (measure → learn → apply):")
		for _, line := range lab.Summary() {
			fmt.Println("  " + line)
		}
	}
	fmt.Println("Demo SaaS voice of customer:")
	for _, line := range vs.Summary() {
		fmt.Println("  " + line)
	}
	if act != nil {
		fmt.Println("Demo shop campaigns (act → measure → decide):")
		for _, line := range act.Summary() {
			fmt.Println("  " + line)
		}
	}
	return nil
}

func printLogin(url string, cfg app.Config, shop meta.Project, shopSecret string, saas meta.Project, saasSecret string) {
	fmt.Printf("\nJourney demo is running at %s\n", url)
	fmt.Printf("  admin key:          %s\n", cfg.AdminKey)
	show := func(p meta.Project, secret string) {
		fmt.Printf("  %-10s token %s", p.Name, p.Token)
		fmt.Printf("  secret key %s", secret)
		fmt.Println()
	}
	show(shop, shopSecret)
	show(saas, saasSecret)
	fmt.Printf("\nTry: curl -s %s/api/v1/query -H 'Authorization: Bearer <secret key>' -d '{\"kind\":\"trend\",\"series\":[{\"event\":\"$pageview\",\"math\":\"dau\"}],\"interval\":\"day\",\"from\":\"%s\",\"to\":\"%s\"}'\n",
		url, time.Now().AddDate(0, 0, -14).UTC().Format("2006-01-02T00:00:00Z"), time.Now().AddDate(0, 0, 1).UTC().Format("2006-01-02T00:00:00Z"))
}

// demoActions names the shop's autocaptured "Add to cart" clicks, so the
// Actions page and the builder's pickers have one to show.
func demoActions(ctx context.Context, m meta.Store, shopID int64) error {
	steps, err := json.Marshal([]insight.ActionStep{{Event: "$autocapture", Text: "Add to cart", Selector: "button.add-to-cart", URL: "/p/"}})
	if err != nil {
		return err
	}
	_, err = m.CreateAction(ctx, meta.Action{ProjectID: shopID, Name: "Added to cart (click)", Description: "Clicks on a product page's Add to cart button", Steps: steps})
	if err != nil {
		return fmt.Errorf("cannot create demo action: %w", err)
	}
	return nil
}
