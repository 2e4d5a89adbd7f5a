package e2e

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/bench"
)

// TestCampaignKill9 kills `journey serve` with SIGKILL at random moments
// of a campaign delivering webhooks to a loopback receiver that verifies
// signatures (triggers still arriving, sends scheduled, claimed, sent),
// restarting it on the same data directory each time. Every due message
// reaches the receiver, no person gets two, no webhook-id carries two
// messages; re-deliveries (the same key again after a kill) are counted.
// JOURNEY_CAMPAIGN_CRASH_KILLS and _MESSAGES resize it (the bench:
// `journey bench campaigns --crash`, 20 kills over 10 000 messages).
func TestCampaignKill9(t *testing.T) {
	o := bench.CampaignCrashOptions{Binary: binary, Kills: envInt("JOURNEY_CAMPAIGN_CRASH_KILLS", 5), Messages: envInt("JOURNEY_CAMPAIGN_CRASH_MESSAGES", 1000),
		DataDir: t.TempDir(), Seed: uint64(time.Now().UnixNano())}
	res, err := bench.CampaignCrash(o, t.Logf)
	t.Logf("%d kills over %d messages in %.1f s: %d unique, %d raw deliveries, %d re-deliveries after receiver-side dedup",
		res.Kills, res.Messages, res.Seconds, res.Receiver.Unique, res.Receiver.Raw, res.Redeliveries)
	if err != nil {
		t.Fatal(err)
	}
}

// TestCampaignKill9ScaleOut: the same on two replicas of the scale-out
// stack (ClickHouse, PostgreSQL, NATS JetStream), killed in turn at
// random: one of them loads and runs the trigger engine, both send.
func TestCampaignKill9ScaleOut(t *testing.T) {
	s := newScaleOut(t)
	o := bench.CampaignCrashOptions{Binary: binary, Kills: envInt("JOURNEY_CAMPAIGN_CRASH_KILLS", 3), Messages: envInt("JOURNEY_CAMPAIGN_CRASH_MESSAGES", 500),
		Replicas: 2, Args: []string{"--events", s.Events, "--meta", s.Meta, "--log", s.Log}, DataDir: t.TempDir(), Seed: uint64(time.Now().UnixNano())}
	res, err := bench.CampaignCrash(o, t.Logf)
	t.Logf("2 replicas, %d kills over %d messages in %.1f s: %d unique, %d raw deliveries, %d re-deliveries after receiver-side dedup",
		res.Kills, res.Messages, res.Seconds, res.Receiver.Unique, res.Receiver.Raw, res.Redeliveries)
	if err != nil {
		t.Fatal(err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
