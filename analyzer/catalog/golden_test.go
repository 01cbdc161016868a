package catalog_test

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestFixtureEncodingGolden pins the generator's output for the fixture, a
// readable sample of the embedded format. Refresh with
// go test ./analyzer/catalog -run Golden -update after a deliberate change.
func TestFixtureEncodingGolden(t *testing.T) {
	_, enc := encodeSnapshot(t, fixturePath)
	const golden = "testdata/fixture.catalog.golden"
	if *update {
		if err := os.WriteFile(golden, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding of %s differs from %s; got:\n%s", fixturePath, golden, enc)
	}
}
