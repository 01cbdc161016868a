package rotator

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// running reports whether pid is a live process (a zombie, killed and
// not reaped yet, is not).
func running(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state …: the state follows the last ')'.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	return len(bytes.TrimSpace(rest)) > 0 && bytes.TrimSpace(rest)[0] != 'Z'
}

// A command target's run ends at its timeout with everything it started
// killed, and a command that exits leaves no step waiting on what it left
// behind. Each script starts a child that would hold the key on stdin
// and the stderr pipe for a minute.
func TestCommandTargetEndsWithItsChildren(t *testing.T) {
	for _, tc := range []struct {
		name       string
		script     string // $1: where the child's pid goes
		wantErr    bool
		childAlive bool
	}{
		{name: "timed out with a child in the background", script: `sleep 60 & echo $! > "$1"; sleep 60`, wantErr: true},
		{name: "timed out in a pipeline", script: `sh -c 'echo $$ > "$1"; exec sleep 60' sh "$1" | cat`, wantErr: true},
		{name: "exits 0 leaving a child that holds stderr", script: `sleep 60 & echo $! > "$1"; exit 0`, childAlive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			ct := CommandTarget{Argv: []string{"sh", "-c", tc.script, "sh", pidFile}, Timeout: time.Second}
			start := time.Now()
			err := ct.Deliver(context.Background(), Recipient{UserName: "u"}, Credential{AccessKeyID: "AKIAX", Secret: NewSecret("s3cr3t")})
			took := time.Since(start)
			var pid int
			for range 50 { // the pid file is written as the script starts
				if b, rerr := os.ReadFile(pidFile); rerr == nil && len(bytes.TrimSpace(b)) > 0 {
					pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if pid == 0 {
				t.Fatalf("the script never wrote its child's pid (err %v)", err)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			if (err != nil) != tc.wantErr {
				t.Errorf("Deliver() = %v, want an error %v", err, tc.wantErr)
			}
			// The child sleeps a minute: returning long before is what
			// shows its pipe did not hold the run.
			if took > 30*time.Second {
				t.Errorf("Deliver took %s: it waited for the child", took)
			}
			// A killed process finishes its exit when next scheduled:
			// give a loaded machine a few seconds.
			alive := running(t, pid)
			for i := 0; alive && !tc.childAlive && i < 100; i++ {
				time.Sleep(50 * time.Millisecond)
				alive = running(t, pid)
			}
			if alive != tc.childAlive {
				t.Errorf("child %d running %v, want %v", pid, alive, tc.childAlive)
			}
		})
	}
}
