package rotator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Recipient is the user a key is delivered for.
type Recipient struct {
	UserName  string
	UserPath  string
	UserARN   string
	AccountID string
}

// fill expands a name template: {user} is the user name, {path} its IAM
// path without the slashes at its ends, {account} the account id.
func (to Recipient) fill(tmpl string) string {
	return strings.NewReplacer("{user}", to.UserName, "{path}", strings.Trim(to.UserPath, "/"), "{account}", to.AccountID).Replace(tmpl)
}

// Delivery brings a new key to its consumers in two steps, as Secrets
// Manager's own rotation does (createSecret/setSecret, testSecret,
// finishSecret): Deliver stages the key where consumers do not pick it up
// yet, Promote publishes it once STS has accepted it, so a consumer never
// receives a key IAM still refuses. Revoke undoes a Deliver (and a
// Promote, where the target keeps the previous key) when a rotation is
// compensated. Promote and Revoke do not need the secret, so they can be
// repeated after a restart; every method is idempotent.
type Delivery interface {
	Deliver(ctx context.Context, to Recipient, cred Credential) error
	Promote(ctx context.Context, to Recipient, keyID string) error
	Revoke(ctx context.Context, to Recipient, keyID string) error
}

// keyDocument is what the Secrets Manager and file targets hold: the
// shape of the AccessKey element of CreateAccessKey.
type keyDocument struct {
	UserName        string    `json:"UserName"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	CreateDate      time.Time `json:"CreateDate,omitzero"`
}

func encodeKey(cred Credential) ([]byte, error) {
	return json.Marshal(keyDocument{UserName: cred.UserName, AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.Secret.Reveal(), CreateDate: cred.Created.UTC()})
}

// Secrets Manager staging labels (AWS Secrets Manager User Guide,
// "Secrets Manager rotation: staging labels").
const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// SecretsManagerClient is the subset of the SDK client the target calls.
type SecretsManagerClient interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsManagerClient = (*secretsmanager.Client)(nil)

// SecretsManagerTarget keeps each user's key in one secret: the key pair
// as JSON ({"UserName","AccessKeyId","SecretAccessKey","CreateDate"}),
// staged as AWSPENDING, then AWSCURRENT with the previous key
// AWSPREVIOUS. The secret is created (without a value) when absent.
type SecretsManagerTarget struct {
	Client SecretsManagerClient
	// NameTemplate is the secret name ({user}, {path}, {account}).
	NameTemplate string
}

var _ Delivery = SecretsManagerTarget{}

// versionID is the secret version of a key. It is the PutSecretValue
// ClientRequestToken (32–64 characters), so a repeated Deliver is
// idempotent and Promote/Revoke find the version from the key ID alone.
func versionID(keyID string) string { return "iamd-access-key-" + keyID }

func (t SecretsManagerTarget) name(to Recipient) string { return to.fill(t.NameTemplate) }

// describe returns the secret's version stages; found false when absent.
func (t SecretsManagerTarget) describe(ctx context.Context, name string) (map[string][]string, bool, error) {
	out, err := t.Client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("describe secret %s: %w", name, err)
	}
	if out.DeletedDate != nil {
		return nil, false, fmt.Errorf("secret %s is scheduled for deletion: restore it (RestoreSecret) or delete it for good", name)
	}
	return out.VersionIdsToStages, true, nil
}

func withStage(stages map[string][]string, stage string) string {
	for v, ss := range stages {
		if slices.Contains(ss, stage) {
			return v
		}
	}
	return ""
}

// Deliver stages the key as AWSPENDING, creating the secret if needed.
func (t SecretsManagerTarget) Deliver(ctx context.Context, to Recipient, cred Credential) error {
	name := t.name(to)
	stages, found, err := t.describe(ctx, name)
	if err != nil {
		return err
	}
	v := versionID(cred.AccessKeyID)
	if _, ok := stages[v]; ok {
		return nil
	}
	if !found {
		_, err := t.Client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:        aws.String(name),
			Description: aws.String("Access key of IAM user " + to.UserARN + ", rotated by iamd"),
			Tags:        []smtypes.Tag{{Key: aws.String("iamd:user"), Value: aws.String(to.UserARN)}},
		})
		var exists *smtypes.ResourceExistsException
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("create secret %s: %w", name, err)
		}
	}
	doc, err := encodeKey(cred)
	if err != nil {
		return err
	}
	_, err = t.Client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(v),
		SecretString:       aws.String(string(doc)),
		VersionStages:      []string{stagePending},
	})
	if err != nil {
		return fmt.Errorf("put secret value %s (%s): %w", name, cred.AccessKeyID, err)
	}
	return nil
}

// Promote moves AWSCURRENT to the key's version; Secrets Manager moves
// AWSPREVIOUS to the version AWSCURRENT left (UpdateSecretVersionStage).
func (t SecretsManagerTarget) Promote(ctx context.Context, to Recipient, keyID string) error {
	name := t.name(to)
	stages, found, err := t.describe(ctx, name)
	if err != nil {
		return err
	}
	v := versionID(keyID)
	if _, ok := stages[v]; !found || !ok {
		return fmt.Errorf("promote %s in secret %s: the key was never staged there", keyID, name)
	}
	if cur := withStage(stages, stageCurrent); cur != v {
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(stageCurrent), MoveToVersionId: aws.String(v)}
		if cur != "" {
			in.RemoveFromVersionId = aws.String(cur)
		}
		if _, err := t.Client.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("promote %s to %s in secret %s: %w", keyID, stageCurrent, name, err)
		}
	}
	if slices.Contains(stages[v], stagePending) {
		if _, err := t.Client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(name), VersionStage: aws.String(stagePending), RemoveFromVersionId: aws.String(v)}); err != nil {
			return fmt.Errorf("clear %s of %s in secret %s: %w", stagePending, keyID, name, err)
		}
	}
	return nil
}

// Revoke takes AWSPENDING off the key's version and, if it was promoted,
// gives AWSCURRENT back to the AWSPREVIOUS version.
func (t SecretsManagerTarget) Revoke(ctx context.Context, to Recipient, keyID string) error {
	name := t.name(to)
	stages, found, err := t.describe(ctx, name)
	if err != nil || !found {
		return err
	}
	v := versionID(keyID)
	if slices.Contains(stages[v], stageCurrent) {
		if prev := withStage(stages, stagePrevious); prev != "" && prev != v {
			if _, err := t.Client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(name), VersionStage: aws.String(stageCurrent), MoveToVersionId: aws.String(prev), RemoveFromVersionId: aws.String(v)}); err != nil {
				return fmt.Errorf("restore %s of secret %s: %w", stageCurrent, name, err)
			}
		}
	}
	if slices.Contains(stages[v], stagePending) {
		if _, err := t.Client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(name), VersionStage: aws.String(stagePending), RemoveFromVersionId: aws.String(v)}); err != nil {
			return fmt.Errorf("clear %s of %s in secret %s: %w", stagePending, keyID, name, err)
		}
	}
	return nil
}

// FileTarget writes the key as JSON to a file (mode 0600): Deliver writes
// PATH.pending, Promote keeps the file it replaces as PATH.previous and
// renames PATH.pending to PATH. Every write goes to a temporary file in
// the same directory, synced and renamed, so a reader sees a whole old or
// a whole new file.
type FileTarget struct {
	// PathTemplate is the file path ({user}, {path}, {account}).
	PathTemplate string
}

var _ Delivery = FileTarget{}

func (t FileTarget) path(to Recipient) (string, error) {
	p := to.fill(t.PathTemplate)
	// IAM names allow "." and IAM paths allow "/../": refuse anything that
	// would leave the directory the template names.
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			return "", fmt.Errorf("file target %s for user %s: path element %q", t.PathTemplate, to.UserName, part)
		}
	}
	return filepath.Clean(p), nil
}

// tempPattern is the os.CreateTemp pattern of writeFileAtomic's
// temporary files for path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp*" }

// staleTempAge is how old a temporary file of writeFileAtomic must be to
// be taken for one a dead process left: a write takes milliseconds.
const staleTempAge = time.Minute

// removeStaleTemps removes the temporary files a process killed inside
// writeFileAtomic left next to path. They hold a key, secret included,
// that nothing would ever remove. Files younger than staleTempAge may be
// a write in progress and stay.
func removeStaleTemps(path string) error {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	prefix := strings.TrimSuffix(tempPattern(path), "*")
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		m := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < staleTempAge {
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale temporary file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// writeFileAtomic writes data to path through a synced temporary file,
// first removing the stale ones a killed process left.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := removeStaleTemps(path); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fileKeyID returns the AccessKeyId a key file holds ("" if none).
func fileKeyID(path string) (string, []byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	var d struct {
		AccessKeyID string `json:"AccessKeyId"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return "", nil, fmt.Errorf("%s: not a key file: %w", path, err)
	}
	return d.AccessKeyID, b, nil
}

// Deliver writes PATH.pending.
func (t FileTarget) Deliver(_ context.Context, to Recipient, cred Credential) error {
	p, err := t.path(to)
	if err != nil {
		return err
	}
	doc, err := encodeKey(cred)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p+".pending", doc); err != nil {
		return fmt.Errorf("deliver %s to file %s: %w", cred.AccessKeyID, p+".pending", err)
	}
	return nil
}

// Promote makes PATH.pending the key file, keeping the old one as
// PATH.previous.
func (t FileTarget) Promote(_ context.Context, to Recipient, keyID string) error {
	p, err := t.path(to)
	if err != nil {
		return err
	}
	cur, curData, err := fileKeyID(p)
	if err != nil {
		return err
	}
	pending, _, err := fileKeyID(p + ".pending")
	if err != nil {
		return err
	}
	if cur == keyID {
		if pending == keyID {
			return os.Remove(p + ".pending")
		}
		return nil
	}
	if pending != keyID {
		return fmt.Errorf("promote %s: %s.pending holds %q, not the key", keyID, p, pending)
	}
	if curData != nil {
		if err := writeFileAtomic(p+".previous", curData); err != nil {
			return fmt.Errorf("keep previous key file: %w", err)
		}
	}
	if err := os.Rename(p+".pending", p); err != nil {
		return fmt.Errorf("promote %s: %w", keyID, err)
	}
	return syncDir(filepath.Dir(p))
}

// Revoke removes PATH.pending if it holds the key, and puts
// PATH.previous back if PATH holds it. It also removes the temporary
// files a killed write left: a compensation after a crash is often the
// last call a target gets for a key.
func (t FileTarget) Revoke(_ context.Context, to Recipient, keyID string) error {
	p, err := t.path(to)
	if err != nil {
		return err
	}
	for _, f := range []string{p, p + ".pending", p + ".previous"} {
		if err := removeStaleTemps(f); err != nil {
			return err
		}
	}
	if pending, _, err := fileKeyID(p + ".pending"); err != nil {
		return err
	} else if pending == keyID {
		if err := os.Remove(p + ".pending"); err != nil {
			return err
		}
	}
	cur, _, err := fileKeyID(p)
	if err != nil {
		return err
	}
	if cur == keyID {
		if _, err := os.Stat(p + ".previous"); err == nil {
			if err := os.Rename(p+".previous", p); err != nil {
				return err
			}
		}
	}
	return syncDir(filepath.Dir(p))
}

// CommandMessage is the JSON object a command target reads on stdin.
// Action is "deliver" (SecretAccessKey set: stage the key), "promote"
// (publish the staged key AccessKeyId) or "revoke" (forget it; restore
// the previous key if it was published). A command that cannot stage may
// publish on "deliver" and ignore "promote".
type CommandMessage struct {
	Action          string    `json:"action"`
	UserName        string    `json:"userName"`
	UserARN         string    `json:"userArn"`
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey,omitempty"`
	Created         time.Time `json:"created,omitzero"`
}

// CommandTarget runs a program for each step with a CommandMessage on
// stdin (to update a CI system or a vault). Its standard output is
// discarded; its standard error is kept for the error message, with the
// secret blanked out. It runs in a process group of its own (on Unix):
// at its timeout the whole group is killed, whatever it started.
type CommandTarget struct {
	Argv    []string
	Timeout time.Duration // per run; default 1 minute
}

var _ Delivery = CommandTarget{}

// commandWaitDelay is exec.Cmd.WaitDelay of a command target.
const commandWaitDelay = 2 * time.Second

func (t CommandTarget) run(ctx context.Context, msg CommandMessage) error {
	if len(t.Argv) == 0 {
		return errors.New("command target without a command")
	}
	in, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.Argv[0], t.Argv[1:]...)
	ownProcessGroup(cmd)
	// Once the command has exited or been killed, its output pipes are
	// closed after commandWaitDelay even if something it started still
	// holds them, so a step never hangs past its timeout.
	cmd.WaitDelay = commandWaitDelay
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited 0; something it left running still holds
		// its stderr, which is not the command's answer.
		err = nil
	}
	if err != nil {
		tail := stderr.String()
		if msg.SecretAccessKey != "" {
			tail = strings.ReplaceAll(tail, msg.SecretAccessKey, redacted)
		}
		if len(tail) > 512 {
			tail = "…" + tail[len(tail)-512:]
		}
		return fmt.Errorf("%s %s for %s: %w: %s", t.Argv[0], msg.Action, msg.AccessKeyID, err, strings.TrimSpace(tail))
	}
	return nil
}

// Deliver runs the command with action "deliver" and the secret.
func (t CommandTarget) Deliver(ctx context.Context, to Recipient, cred Credential) error {
	return t.run(ctx, CommandMessage{Action: "deliver", UserName: to.UserName, UserARN: to.UserARN, AccessKeyID: cred.AccessKeyID,
		SecretAccessKey: cred.Secret.Reveal(), Created: cred.Created.UTC()})
}

// Promote runs the command with action "promote".
func (t CommandTarget) Promote(ctx context.Context, to Recipient, keyID string) error {
	return t.run(ctx, CommandMessage{Action: "promote", UserName: to.UserName, UserARN: to.UserARN, AccessKeyID: keyID})
}

// Revoke runs the command with action "revoke".
func (t CommandTarget) Revoke(ctx context.Context, to Recipient, keyID string) error {
	return t.run(ctx, CommandMessage{Action: "revoke", UserName: to.UserName, UserARN: to.UserARN, AccessKeyID: keyID})
}

// Targets builds the delivery targets a policy names; sm may be nil when
// no user is delivered to Secrets Manager (the target then fails).
func Targets(p DeliveryPolicy, sm SecretsManagerClient) map[string]Delivery {
	out := map[string]Delivery{}
	if sm != nil {
		out[TargetSecretsManager] = SecretsManagerTarget{Client: sm, NameTemplate: p.SecretName}
	}
	for name, tmpl := range p.Files {
		out[name] = FileTarget{PathTemplate: tmpl}
	}
	for name, argv := range p.Commands {
		out[name] = CommandTarget{Argv: slices.Clone(argv)}
	}
	return out
}
