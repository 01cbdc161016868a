package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/iamd/iamd/ingest"
)

const loadLong = `Put CloudTrail files where iamd's streaming sources read them, for test
stacks and demos (the docker-compose stack's loader runs it):

  --to kafka://BROKER[,BROKER…]/TOPIC
        one message per record (log files' Records, JSON arrays and JSON
        lines are split), created topic if the broker allows it
  --to s3://BUCKET[/PREFIX][?endpoint=URL&region=R]
        each file uploaded as is, under PREFIX + its path below the
        directory given (so gen-trail's AWSLogs/… layout is kept)

PATH is a file or a directory (read recursively, CloudTrail file names
only). --to may be repeated.`

func newLoadCmd() *cobra.Command {
	var to []string
	cmd := &cobra.Command{
		Use:   "load --to URL PATH...",
		Short: "Publish CloudTrail files to a Kafka topic or upload them to an S3 bucket",
		Long:  loadLong,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(to) == 0 {
				return errors.New("load: --to is required (kafka://… or s3://…)")
			}
			var targets []fromSource
			for _, u := range to {
				fs, err := parseFromURL(u)
				if err != nil {
					return fmt.Errorf("--to: %w", err)
				}
				if fs.kafka != nil && len(fs.kafka.Topics) != 1 {
					return fmt.Errorf("--to %s: give one topic", u)
				}
				targets = append(targets, fs)
			}
			files, err := loadInputs(args)
			if err != nil {
				return err
			}
			for _, t := range targets {
				if err := loadTo(cmd.Context(), cmd.OutOrStdout(), t, files); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&to, "to", nil, "kafka://BROKER/TOPIC or s3://BUCKET/PREFIX (repeatable)")
	return cmd
}

// loadFile is one input with its name relative to the directory given.
type loadFile struct{ path, rel string }

func loadInputs(paths []string) ([]loadFile, error) {
	var out []loadFile
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		root := filepath.Dir(p)
		if fi.IsDir() {
			root = p
		}
		err = ingest.WalkInputs([]string{p}, func(in ingest.Input) error {
			rel, err := filepath.Rel(root, in.Path)
			if err != nil {
				return err
			}
			out = append(out, loadFile{path: in.Path, rel: filepath.ToSlash(rel)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load: no CloudTrail file under %s", strings.Join(paths, ", "))
	}
	return out, nil
}

func loadTo(ctx context.Context, w io.Writer, t fromSource, files []loadFile) error {
	if t.kafka != nil {
		topic := t.kafka.Topics[0]
		kw := &kafka.Writer{Addr: kafka.TCP(t.kafka.Brokers...), Topic: topic, Balancer: &kafka.RoundRobin{},
			RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true, BatchTimeout: 10 * time.Millisecond}
		defer kw.Close()
		n := 0
		var msgs []kafka.Message
		flush := func() error {
			if err := kw.WriteMessages(ctx, msgs...); err != nil {
				return fmt.Errorf("load into kafka topic %s: %w", topic, err)
			}
			n += len(msgs)
			msgs = msgs[:0]
			return nil
		}
		for _, f := range files {
			recs, err := fileRecords(f.path)
			if err != nil {
				return fmt.Errorf("load %s: %w", f.path, err)
			}
			for _, r := range recs {
				msgs = append(msgs, kafka.Message{Value: r})
			}
			if len(msgs) >= 2000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if len(msgs) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "published %d records from %d files to kafka topic %s\n", n, len(files), topic)
		return nil
	}
	client, err := newS3Client(ctx, t.region, t.endpoint)
	if err != nil {
		return err
	}
	prefix := t.s3.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		key := prefix + f.rel
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(t.s3.Bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			return fmt.Errorf("upload s3://%s/%s: %w", t.s3.Bucket, key, err)
		}
	}
	fmt.Fprintf(w, "uploaded %d files to s3://%s/%s\n", len(files), t.s3.Bucket, prefix)
	return nil
}

// fileRecords splits a file, plain or gzipped, into its records: the
// elements of {"Records":[…]} objects and of JSON arrays, and every other
// JSON value (JSON lines, single records).
func fileRecords(path string) ([]json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	var out []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("byte %d: %w", dec.InputOffset(), err)
		}
		var batch struct{ Records []json.RawMessage }
		var arr []json.RawMessage
		switch {
		case bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) && json.Unmarshal(v, &arr) == nil:
			out = append(out, arr...)
		case json.Unmarshal(v, &batch) == nil && batch.Records != nil:
			out = append(out, batch.Records...)
		default:
			out = append(out, v)
		}
	}
}
