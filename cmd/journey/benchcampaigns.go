package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/bench"
)

// benchCampaigns runs `journey bench campaigns`: trigger → scheduled
// latency, sender throughput and pending sends held (issue 15,
// performance), or with --crash the kill -9 test of a delivering campaign.
func benchCampaigns(args []string) error {
	o := bench.CampaignsOptions{For: 10 * time.Second}
	var asJSON, crash bool
	var kills, messages int
	f := newFlags("bench campaigns")
	f.boolean(&asJSON, "json", false, "print one JSON object")
	// No JOURNEY_* twins: the names are too generic for the environment.
	f.IntVar(&o.Rate, "rate", 5000, "trigger events per second (open loop)")
	f.IntVar(&o.Batch, "batch", 10, "trigger events per /batch/ request")
	f.DurationVar(&o.For, "duration", 10*time.Second, "how long triggers are sent")
	f.IntVar(&o.Persons, "persons", 100_000, "distinct ids the triggers come from")
	f.IntVar(&o.Sends, "sends", 20_000, "sends made due at once for the sender's deliveries/s (at most the triggers)")
	f.IntVar(&o.Pending, "pending", 1_000_000, "pending sends held for the memory figure (0: skip)")
	f.StringVar(&o.DataDir, "dir", "", "data directory of the server (default: a temporary one)")
	f.StringVar(&o.ProfileDir, "profile", "", "write the server's CPU profiles of the trigger and sender phases into this directory")
	f.BoolVar(&crash, "crash", false, "run the crash test instead: kill -9 at random moments of a delivering campaign")
	f.IntVar(&kills, "kills", 20, "with --crash: kills")
	f.IntVar(&messages, "messages", 10_000, "with --crash: messages of the campaign")
	if err := f.parse(args); err != nil {
		return err
	}
	binary, err := os.Executable()
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", a...)
		}
	}
	if crash {
		return benchCampaignCrash(bench.CampaignCrashOptions{Binary: binary, Messages: messages, Kills: kills, DataDir: o.DataDir,
			Seed: uint64(time.Now().UnixNano())}, asJSON, logf)
	}
	if o.Rate < 1 || o.Batch < 1 || o.Persons < 1 || o.For <= 0 || o.Sends < 1 || o.Pending < 0 {
		return fmt.Errorf("--rate, --batch, --persons, --duration and --sends must be positive, --pending not negative")
	}
	o.Binary = binary
	res, err := bench.Campaigns(context.Background(), o, logf)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("\njourney bench campaigns %s (%d cores)\n", strings.Join(args, " "), res.Cores)
	fmt.Printf("trigger → scheduled: p50 %.1f ms, p99 %.1f ms (target p99 < 1000 ms), max %.1f ms at %.0f trigger events/s for %s (%d triggers, %d failed requests)\n",
		res.ScheduledP50MS, res.ScheduledP99MS, res.ScheduledMaxMS, res.AchievedRate, o.For, res.Triggers, res.CaptureErrors)
	fmt.Printf("  load client: %d /batch/ requests at once from %d loopback addresses (within capture's per-client limit; %d retried after 429/503)\n",
		res.InFlight, res.LoadClients, res.CaptureRetries)
	fmt.Printf("sender: %.0f webhook deliveries/s to a verifying loopback receiver (target ≥ 2000 on 2 cores); %d messages, %d raw deliveries, %d bad\n",
		res.DeliveriesPerS, res.Sends, res.Receiver.Raw, res.Receiver.Bad)
	if res.Pending > 0 {
		fmt.Printf("pending: %d sends held, server RSS %.0f MB before, %.0f MB after (bounded: no per-send memory); %d due among them delivered in %.0f ms\n",
			res.Pending, res.RSSBeforeMB, res.RSSAfterMB, res.DueAmongPending, res.DueDeliveredInMS)
	}
	return nil
}

func benchCampaignCrash(o bench.CampaignCrashOptions, asJSON bool, logf func(string, ...any)) error {
	res, err := bench.CampaignCrash(o, logf)
	if asJSON && err == nil {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	c := res.Receiver
	fmt.Printf("\ncampaign crash: %d kill -9 over %d messages in %.0f s: %d unique messages received, %d raw deliveries (%d re-deliveries), %d persons messaged twice, %d bad signatures\n",
		res.Kills, res.Messages, res.Seconds, c.Unique, c.Raw, res.Redeliveries, c.Doubled, c.Bad)
	return err
}
