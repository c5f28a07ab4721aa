package booking

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	return img
}

// withEXIF inserts an APP1 Exif segment after the JPEG's SOI marker.
func withEXIF(j []byte, secret string) []byte {
	payload := append([]byte("Exif\x00\x00"), []byte(secret)...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, j[2:]...)
}

func riffChunk(id string, data []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func webp(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}

// TestCleanImage: the type comes from the bytes; metadata is gone; anything else is refused.
func TestCleanImage(t *testing.T) {
	var j, p bytes.Buffer
	_ = jpeg.Encode(&j, testImage(), nil)
	_ = png.Encode(&p, testImage())
	vp8x := riffChunk("VP8X", []byte{0x0C, 0, 0, 0, 7, 0, 0, 7, 0, 0}) // EXIF and XMP flags set
	tests := []struct {
		name    string
		in      []byte
		ext     string
		err     error
		missing string
	}{
		{"jpeg with exif", withEXIF(j.Bytes(), "GPS 52.5N 13.4E"), "jpg", nil, "GPS 52.5N"},
		{"png", p.Bytes(), "png", nil, ""},
		{"webp with exif and xmp", webp(vp8x, riffChunk("VP8L", []byte{0x2f, 1, 2, 3, 4}), riffChunk("EXIF", []byte("GPS here")),
			riffChunk("XMP ", []byte("<x:xmpmeta/>"))), "webp", nil, "GPS here"},
		{"webp without an image", webp(riffChunk("EXIF", []byte("x"))), "", ErrBadImage, ""},
		{"truncated webp", webp(riffChunk("VP8L", []byte{1, 2, 3, 4}))[:20], "", ErrBadImage, ""},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "", ErrBadImage, ""},
		{"html named .png", []byte("<html><script>alert(1)</script>"), "", ErrBadImage, ""},
		{"damaged jpeg", j.Bytes()[:40], "", ErrBadImage, ""},
	}
	for _, tt := range tests {
		out, ext, err := CleanImage(tt.in)
		if !errors.Is(err, tt.err) && !(err == nil && tt.err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if ext != tt.ext || (tt.missing != "" && bytes.Contains(out, []byte(tt.missing))) {
			t.Errorf("%s: ext %s, metadata kept %v", tt.name, ext, bytes.Contains(out, []byte(tt.missing)))
		}
		if tt.ext == "webp" && (out[8+12+8]&0x0C) != 0 {
			t.Errorf("%s: VP8X flags still claim metadata", tt.name)
		}
		if tt.ext != "webp" {
			if _, _, err := image.Decode(bytes.NewReader(out)); err != nil {
				t.Errorf("%s: output does not decode: %v", tt.name, err)
			}
		}
	}
}

// TestSaveImage stores through the Storage and refuses more than 2 MiB.
func TestSaveImage(t *testing.T) {
	var p bytes.Buffer
	_ = png.Encode(&p, testImage())
	st := DiskStorage{Dir: t.TempDir()}
	s := NewService(Params{})
	url, err := s.SaveImage(context.Background(), st, p.Bytes())
	if err != nil || !strings.HasPrefix(url, ImagePathPrefix) || !strings.HasSuffix(url, ".png") {
		t.Fatalf("save: %q %v", url, err)
	}
	data, ct, err := st.Get(context.Background(), strings.TrimPrefix(url, ImagePathPrefix))
	if err != nil || ct != "image/png" || len(data) == 0 {
		t.Fatalf("get: %s %v", ct, err)
	}
	if _, _, err := st.Get(context.Background(), "../../etc/passwd"); !errors.Is(err, ErrNoObject) {
		t.Fatalf("traversal: %v", err)
	}
	if _, err := s.SaveImage(context.Background(), st, make([]byte, MaxImageBytes+1)); !errors.Is(err, ErrBadImage) {
		t.Fatalf("too large: %v", err)
	}
}
