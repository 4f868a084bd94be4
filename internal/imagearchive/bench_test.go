// Benchmark: the cost of Tag relative to a plain tar-to-tar copy of the
// same archive, reported as a ratio (no timed assertions).
package imagearchive

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"
)

func BenchmarkTagVsTarCopy(b *testing.B) {
	data := mustRead(b, dockerArchive(b, randomImage(b, 8<<20)))
	b.SetBytes(int64(len(data)))
	var tagTime, copyTime time.Duration
	for b.Loop() {
		start := time.Now()
		if err := Tag(bytes.NewReader(data), io.Discard, localRef); err != nil {
			b.Fatal(err)
		}
		tagTime += time.Since(start)
		start = time.Now()
		if err := tarCopy(bytes.NewReader(data), io.Discard); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)
	}
	b.ReportMetric(float64(tagTime)/float64(copyTime), "tag/copy")
}

func tarCopy(in io.Reader, out io.Writer) error {
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
