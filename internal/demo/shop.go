package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/journey-dev/journey/internal/event"
	"github.com/journey-dev/journey/internal/flags"
)

type product struct {
	id, name, category string
	price              float64
}

var categories = []string{"shoes", "jackets", "bags", "accessories", "shirts"}

func catalog(r *rand.Rand) []product {
	adjectives := []string{"Trail", "City", "Classic", "Alpine", "Urban", "Coastal", "Nordic", "Vintage"}
	var ps []product
	for i := 0; i < 120; i++ {
		c := categories[i%len(categories)]
		ps = append(ps, product{
			id:       fmt.Sprintf("sku-%04d", i+1),
			name:     fmt.Sprintf("%s %s %d", pick(r, adjectives), c, i+1),
			category: c,
			price:    math.Round(lognormal(r, 45, 0.6)*100) / 100,
		})
	}
	return ps
}

// channels: acquisition sources with weights and how well they convert.
var channels = []struct {
	source, medium string
	weight, intent float64
}{
	{"google", "cpc", 30, 1.0},
	{"newsletter", "email", 12, 1.6},
	{"instagram", "social", 20, 0.7},
	{"tiktok", "social", 10, 0.5},
	{"partner-blog", "referral", 8, 1.2},
	{"", "", 20, 1.1}, // direct
}

// AddToCartChain is the $elements_chain posthog-js sends for a click on a
// product page's "Add to cart" button (the demo's "Added to cart
// (click)" action matches it).
const AddToCartChain = `button.btn.btn-primary.add-to-cart:text="Add to cart"attr__class="btn btn-primary add-to-cart"attr__data-testid="add-to-cart"nth-child="2"nth-of-type="1";div.product-card:attr__class="product-card"nth-child="1"nth-of-type="1";main:nth-child="2"nth-of-type="1";body:nth-child="2"nth-of-type="1"`

var browsers = []string{"Chrome", "Safari", "Firefox", "Edge"}
var osNames = []string{"Windows", "Mac OS X", "iOS", "Android", "Linux"}

// Shop generates visitors of an online shop until about n events exist:
// anonymous browsing, some sign-ups ($identify merges the anonymous id),
// product views, likes, carts, orders with revenue, errors and tickets.
func Shop(ctx context.Context, project int64, sink Sink, o Options, n int, onBatch func(int)) (int, error) {
	r := rand.New(rand.NewPCG(o.Seed, 1))
	g := &gen{rng: r, project: project, sink: sink, uuidRng: rand.New(rand.NewPCG(o.Seed, 2)), onBatch: onBatch, lab: o.Lab}
	products := catalog(r)
	start := o.start()
	for v := 0; g.sent+len(g.buf) < n; v++ {
		// Each visitor draws from a stream of their own, so that what one
		// does (a variant's planted effect included) leaves the others as
		// they are.
		g.rng = rand.New(rand.NewPCG(o.Seed, 1<<32|uint64(v)))
		if err := shopVisitor(ctx, g, v, products, start, o.Days); err != nil {
			return g.sent, err
		}
	}
	return g.sent, g.flush(ctx)
}

func shopVisitor(ctx context.Context, g *gen, v int, products []product, start time.Time, days int) error {
	r := g.rng
	ch := channels[weighted(r, []float64{30, 12, 20, 10, 8, 20})]
	anon := fmt.Sprintf("anon-%07d", v)
	user := fmt.Sprintf("user-%07d", v)
	distinct := anon
	identified := false
	var person map[string]any // the properties /flags knows of the visitor
	reported := map[string]bool{}
	browser, osName := pick(r, browsers), pick(r, osNames)
	firstDay := r.IntN(days)
	// Engaged visitors come back; most do not.
	visits := 1 + int(lognormal(r, 1.2, 0.9)*ch.intent)
	if visits > 25 {
		visits = 25
	}
	day := firstDay
	for s := 0; s < visits && day < days; s++ {
		t := instant(r, start, day)
		session := fmt.Sprintf("s-%d-%d", v, s)
		base := func(extra map[string]any) map[string]any {
			p := map[string]any{"$session_id": session, "$browser": browser, "$os": osName, "$lib": "web"}
			if ch.source != "" && s == 0 {
				p["utm_source"], p["utm_medium"] = ch.source, ch.medium
			}
			for k, x := range extra {
				p[k] = x
			}
			return p
		}
		step := func() time.Time {
			t = t.Add(time.Duration(10+r.IntN(170)) * time.Second)
			return t
		}
		// flag asks for a flag as the shop's code does at t; posthog-js
		// sends $feature_flag_called once per distinct id and value.
		flag := func(key string) (flags.Result, error) {
			res, ok := g.lab.evaluate(key, distinct, person, t)
			if !ok {
				return res, nil
			}
			seen := distinct + "\x00" + key + "\x00" + fmt.Sprint(res.Value())
			if reported[seen] {
				return res, nil
			}
			reported[seen] = true
			return res, g.emit(ctx, event.Event{Event: "$feature_flag_called", DistinctID: distinct, Timestamp: t,
				Properties: exposure(res, g.uuid(), base(nil))})
		}
		page := pick(r, []string{"/", "/", "/sale", "/new", "/category/" + pick(r, categories)})
		if err := g.emit(ctx, event.Event{Event: "$pageview", DistinctID: distinct, Timestamp: t,
			Properties: base(map[string]any{"$current_url": "https://shop.example" + page, "$pathname": page})}); err != nil {
			return err
		}
		// Signed-in customers may see the free-shipping banner (no effect).
		if identified {
			if _, err := flag(FlagFreeShipping); err != nil {
				return err
			}
		}
		views := 1 + r.IntN(6)
		var cart []product
		for i := 0; i < views; i++ {
			p := pick(r, products)
			props := base(map[string]any{"item": p.id, "name": p.name, "category": p.category, "price": p.price})
			if err := g.emit(ctx, event.Event{Event: "$pageview", DistinctID: distinct, Timestamp: step(),
				Properties: base(map[string]any{"$current_url": "https://shop.example/p/" + p.id, "$pathname": "/p/" + p.id})}); err != nil {
				return err
			}
			if err := g.emit(ctx, event.Event{Event: "product_viewed", DistinctID: distinct, Timestamp: step(), Properties: props}); err != nil {
				return err
			}
			addRate := 0.22 * ch.intent
			if identified {
				res, err := flag(FlagReviews)
				if err != nil {
					return err
				}
				if res.Variant == "reviews-top" {
					addRate *= reviewsLift
				}
			}
			if r.Float64() < 0.12 {
				if err := g.emit(ctx, event.Event{Event: "product_liked", DistinctID: distinct, Timestamp: step(), Properties: props}); err != nil {
					return err
				}
			}
			if r.Float64() < addRate {
				cart = append(cart, p)
				// posthog-js autocaptures the click on the button, then the
				// shop's own code sends added_to_cart.
				if err := g.emit(ctx, event.Event{Event: "$autocapture", DistinctID: distinct, Timestamp: step(),
					Properties: base(map[string]any{"$event_type": "click", "$current_url": "https://shop.example/p/" + p.id,
						"$elements_chain": AddToCartChain})}); err != nil {
					return err
				}
				if err := g.emit(ctx, event.Event{Event: "added_to_cart", DistinctID: distinct, Timestamp: step(), Properties: props}); err != nil {
					return err
				}
			}
			if r.Float64() < 0.015 {
				if err := g.emit(ctx, event.Event{Event: "$exception", DistinctID: distinct, Timestamp: step(),
					Properties: base(map[string]any{"$exception_type": pick(r, []string{"TypeError", "NetworkError", "PaymentTimeout"}), "$exception_message": "checkout widget failed"})}); err != nil {
					return err
				}
			}
		}
		// Sign-up: anonymous browsing becomes a known user.
		if !identified && (len(cart) > 0 && r.Float64() < 0.6 || r.Float64() < 0.05) {
			identified = true
			props := base(map[string]any{"$anon_distinct_id": anon})
			person = map[string]any{"email": user + "@example.com", "plan": pick(r, []string{"free", "free", "member"})}
			if err := g.emit(ctx, event.Event{Event: "$identify", DistinctID: user, Timestamp: step(), Properties: props,
				Set:     person,
				SetOnce: map[string]any{"initial_utm_source": ch.source, "first_seen_browser": browser}}); err != nil {
				return err
			}
			distinct = user
			if err := g.emit(ctx, event.Event{Event: "signed_up", DistinctID: distinct, Timestamp: step(), Properties: base(nil)}); err != nil {
				return err
			}
		}
		// Checkout: signed-in customers with a cart; the one-page checkout
		// (new-checkout's test) wins back some of the orders lost there.
		order := false
		if len(cart) > 0 && identified {
			if err := g.emit(ctx, event.Event{Event: "$pageview", DistinctID: distinct, Timestamp: step(),
				Properties: base(map[string]any{"$current_url": "https://shop.example/checkout", "$pathname": "/checkout"})}); err != nil {
				return err
			}
			res, err := flag(FlagNewCheckout)
			if err != nil {
				return err
			}
			if _, err := flag(FlagExpress); err != nil {
				return err
			}
			p := min(0.55*ch.intent, 1)
			if res.Variant == "test" {
				p += (1 - p) * checkoutRescue
			}
			order = r.Float64() < p
		}
		if order {
			revenue := 0.0
			for _, p := range cart {
				revenue += p.price
			}
			if err := g.emit(ctx, event.Event{Event: "order_completed", DistinctID: distinct, Timestamp: step(),
				Properties: base(map[string]any{"revenue": math.Round(revenue*100) / 100, "items": len(cart), "currency": "EUR"})}); err != nil {
				return err
			}
		}
		if r.Float64() < 0.02 {
			if err := g.emit(ctx, event.Event{Event: "support_ticket_created", DistinctID: distinct, Timestamp: step(),
				Properties: base(map[string]any{"topic": pick(r, []string{"delivery", "refund", "sizing", "payment"})})}); err != nil {
				return err
			}
		}
		day += 1 + int(lognormal(r, 3, 0.8))
	}
	return nil
}
