// Package campaignbench holds the focused benchmarks of the campaign
// trigger engine and sender on the real stores (bench_test.go), apart from
// package campaign so that they import the metadata store freely.
package campaignbench
