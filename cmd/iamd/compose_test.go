package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/iamd/iamd/configs"
)

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

const composePath = "../../docker-compose.yml"

// interpolate expands ${NAME:-default} and ${NAME} as compose does, with
// nothing set in the environment.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}`).ReplaceAllString(s, "$3")
}

// mount returns the source of the volume mounted at target.
func (s composeService) mount(target string) (string, bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0], true
		}
	}
	return "", false
}

// flag returns the value after name in args.
func flag(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestComposeStackAgrees reads docker-compose.yml and checks that the
// stack fits together: iamd's mounted config passes `iamd config check`
// with the service's environment, the config names the services, ports,
// topic and bucket that compose defines and the loader fills, every
// iamd command in the file is one iamd has, and iamd's port is published
// on loopback only.
func TestComposeStackAgrees(t *testing.T) {
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&cf); err != nil {
		t.Fatal(err)
	}
	svc := func(name string) composeService {
		t.Helper()
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no service %q", name)
		}
		return s
	}
	iamd := svc("iamd")

	// The config it mounts passes the check, with its environment.
	if got := flag(iamd.Command, "--config"); got != "/etc/iamd/iamd.yaml" {
		t.Fatalf("iamd runs with --config %q", got)
	}
	src, ok := iamd.mount("/etc/iamd/iamd.yaml")
	if !ok || !strings.HasPrefix(src, "./configs/") {
		t.Fatalf("iamd mounts its config from %q, want a file of configs/", src)
	}
	env := map[string]string{}
	for k, v := range iamd.Environment {
		env[k] = interpolate(v)
	}
	cfg, err := checkConfig(filepath.Join("../..", src), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("iamd config check %s with the service's environment: %v", src, err)
	}
	if env[configs.EnvHTTPToken] == "" {
		t.Error("iamd listens beyond loopback in its container, but compose gives it no token")
	}

	// Its port: published on the host's loopback only, to the port the
	// config listens on.
	_, port, _ := net.SplitHostPort(cfg.HTTP.Listen)
	if len(iamd.Ports) != 1 || iamd.Ports[0] != "127.0.0.1:"+port+":"+port {
		t.Errorf("iamd ports %v, want [127.0.0.1:%s:%s]", iamd.Ports, port, port)
	}
	if hc := iamd.Healthcheck.Test; len(hc) < 3 || hc[1] != "/usr/local/bin/iamd" || !strings.HasSuffix(flag(hc, "--addr"), ":"+port) {
		t.Errorf("iamd healthcheck %v does not ask iamd health on port %s", hc, port)
	}

	// Kafka: the config's broker is the kafka service as it advertises
	// itself, and the loader publishes to the topic iamd reads.
	if len(cfg.Sources.Kafka) != 1 || len(cfg.Sources.Kafka[0].Topics) != 1 {
		t.Fatalf("config kafka sources %+v, want one with one topic", cfg.Sources.Kafka)
	}
	k := cfg.Sources.Kafka[0]
	host, _, _ := net.SplitHostPort(configs.WithKafkaPort(k.Brokers[0]))
	kafkaSvc := svc(host)
	if adv := kafkaSvc.Environment["KAFKA_ADVERTISED_LISTENERS"]; !strings.Contains(adv, "//"+configs.WithKafkaPort(k.Brokers[0])) {
		t.Errorf("config broker %s is not what service %s advertises (%s)", k.Brokers[0], host, adv)
	}
	if !strings.HasPrefix(kafkaSvc.Image, "apache/kafka:") || !strings.Contains(kafkaSvc.Environment["KAFKA_PROCESS_ROLES"], "controller") {
		t.Errorf("service %s is not apache/kafka in KRaft mode", host)
	}

	// S3: the config's bucket is on the minio service, created by
	// minio-init, and filled by the loader.
	if len(cfg.Sources.S3) != 1 {
		t.Fatalf("config s3 sources %+v, want one", cfg.Sources.S3)
	}
	s3c := cfg.Sources.S3[0]
	u, err := url.Parse(s3c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if svc(u.Hostname()).Image == "" || u.Port() != "9000" {
		t.Errorf("s3 endpoint %s is not the MinIO service's port 9000", s3c.Endpoint)
	}
	if init := strings.Join(svc("minio-init").Entrypoint, " "); !strings.Contains(init, "mc mb --ignore-existing local/"+s3c.Bucket) {
		t.Errorf("minio-init does not create bucket %s: %s", s3c.Bucket, init)
	}

	// The loader: an iamd command that publishes to the topic and uploads
	// to the bucket iamd reads, from where demo-data generated the trail.
	loader := svc("loader")
	var toKafka, toS3 bool
	for i, a := range loader.Command {
		if a != "--to" || i+1 == len(loader.Command) {
			continue
		}
		fs, err := parseFromURL(loader.Command[i+1])
		if err != nil {
			t.Fatalf("loader --to %s: %v", loader.Command[i+1], err)
		}
		switch {
		case fs.kafka != nil:
			toKafka = strings.Join(fs.kafka.Brokers, ",") == configs.WithKafkaPort(k.Brokers[0]) && fs.kafka.Topics[0] == k.Topics[0]
		case fs.s3 != nil:
			toS3 = fs.s3.Bucket == s3c.Bucket && fs.s3.Prefix == s3c.Prefix && fs.endpoint == s3c.Endpoint
		}
	}
	if !toKafka || !toS3 {
		t.Errorf("loader %v does not publish to kafka %v/%s (%v) and upload to s3://%s (%v)", loader.Command, k.Brokers, k.Topics[0], toKafka, s3c.Bucket, toS3)
	}
	gen := svc("demo-data")
	trail := loader.Command[len(loader.Command)-1]
	if flag(gen.Command, "--out") != trail || flag(gen.Command, "--iam-snapshot") != cfg.IAM.File {
		t.Errorf("demo-data writes %q and %q; the loader reads %q and iamd loads %q",
			flag(gen.Command, "--out"), flag(gen.Command, "--iam-snapshot"), trail, cfg.IAM.File)
	}
	for _, s := range []composeService{gen, loader, iamd} {
		if v, ok := s.mount("/demo"); !ok || v != "demo-data" {
			t.Errorf("a service sharing the demo data mounts %q at /demo", v)
		}
	}

	// Every iamd command line in the file is one iamd has, flags included.
	for name, s := range cf.Services {
		if s.Image != iamd.Image {
			continue
		}
		for _, args := range [][]string{s.Command, s.Healthcheck.Test} {
			if len(args) > 0 && args[0] == "CMD" {
				if args[1] != "/usr/local/bin/iamd" {
					continue
				}
				args = args[2:]
			}
			if len(args) == 0 {
				continue
			}
			root := newRootCmd()
			c, rest, err := root.Find(args)
			if err != nil || c == root {
				t.Errorf("service %s: iamd has no command %v (%v)", name, args, err)
				continue
			}
			if err := c.ParseFlags(rest); err != nil {
				t.Errorf("service %s: iamd %s: %v", name, c.Name(), err)
				continue
			}
			if c.Args != nil {
				if err := c.Args(c, c.Flags().Args()); err != nil {
					t.Errorf("service %s: iamd %s: %v", name, c.Name(), err)
				}
			}
		}
	}

	// Named volumes are declared, dependencies exist, the iamd image is
	// built from the Dockerfile by one service.
	built := 0
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			if src := strings.Split(v, ":")[0]; !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := cf.Volumes[src]; !ok {
					t.Errorf("service %s mounts undeclared volume %s", name, src)
				}
			}
		}
		for dep := range s.DependsOn {
			if _, ok := cf.Services[dep]; !ok {
				t.Errorf("service %s depends on missing service %s", name, dep)
			}
		}
		if s.Build != nil && s.Image == iamd.Image {
			built++
		}
	}
	if built != 1 {
		t.Errorf("%d services build %s, want 1", built, iamd.Image)
	}
	if _, err := os.Stat("../../Dockerfile"); err != nil {
		t.Error(err)
	}
}
