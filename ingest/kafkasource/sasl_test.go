package kafkasource_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/iamd/iamd/ingest/kafkasource"
)

// The SASL password must not come out of fmt or slog, whichever way a
// Config is printed.
func TestSASLPasswordNotPrinted(t *testing.T) {
	const pw = "hunter2-sasl-secret"
	c := kafkasource.Config{Brokers: []string{"b:9092"}, SASL: kafkasource.SASL{Mechanism: "plain", Username: "u", Password: pw}}
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("config", "sasl", c.SASL)
	logger.Info("config", "config", c)
	js, err := json.Marshal(struct{ SASL kafkasource.SASL }{c.SASL})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, out string }{
		{"%v", fmt.Sprintf("%v", c)},
		{"%+v", fmt.Sprintf("%+v", c)},
		{"%#v", fmt.Sprintf("%#v", c)},
		{"%s sasl", fmt.Sprintf("%s", c.SASL)},
		{"%#v sasl", fmt.Sprintf("%#v", c.SASL)},
		{"slog", logged.String()},
		{"json", string(js)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.out, pw) {
				t.Fatalf("output holds the password: %s", tc.out)
			}
			if !strings.Contains(tc.out, "plain") {
				t.Fatalf("output lost the mechanism: %s", tc.out)
			}
		})
	}
}
