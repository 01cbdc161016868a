package catalog_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTimer reports process CPU time (user+system) per op as "cpu-ns/op"
// next to the wall-clock ns/op. The benchmark machine is shared, so wall
// time includes waiting for a core; CPU time is the cost Load itself adds.
type cpuTimer struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuTimer { return cpuTimer{start: processCPU()} }

func (c cpuTimer) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
	}
}
