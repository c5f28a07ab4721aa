package booking

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
)

// ImagePathPrefix is where uploaded images are served; a profile's photos point there.
const ImagePathPrefix = "/api/v1/uploads/images/"

// MaxImageBytes bounds an uploaded image.
const MaxImageBytes = 2 << 20

// MaxImagePixels bounds an image's decoded size (a small file can decode huge).
const MaxImagePixels = 40_000_000

// Storage keeps uploaded files by name.
type Storage interface {
	Put(ctx context.Context, name, contentType string, data []byte) error
	Get(ctx context.Context, name string) (data []byte, contentType string, err error)
}

// ErrNoObject is a name the storage does not hold.
var ErrNoObject = errors.New("storage: no such object")

// DiskStorage keeps files in a directory (under the data directory by default).
type DiskStorage struct{ Dir string }

var nameRe = regexp.MustCompile(`^[0-9a-f]{32}\.(jpg|png|webp)$`)

// Put writes the file atomically (a temporary file renamed into place).
func (d DiskStorage) Put(_ context.Context, name, _ string, data []byte) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("storage: bad name %q", name)
	}
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Dir, ".up-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(d.Dir, name))
}

// Get reads a file.
func (d DiskStorage) Get(_ context.Context, name string) ([]byte, string, error) {
	if !nameRe.MatchString(name) {
		return nil, "", ErrNoObject
	}
	b, err := os.ReadFile(filepath.Join(d.Dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", ErrNoObject
	}
	return b, contentTypeOf(name), err
}

func contentTypeOf(name string) string {
	switch filepath.Ext(name) {
	case ".jpg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	}
	return "image/webp"
}

// CleanImage checks that data is a JPEG, PNG or WebP image by its bytes (never by a name or
// a header) and returns it without metadata: JPEG and PNG are decoded and re-encoded, which
// keeps only the pixels; WebP keeps its image chunks and loses EXIF and XMP.
func CleanImage(data []byte) (out []byte, ext string, err error) {
	switch http.DetectContentType(data) {
	case "image/jpeg":
		img, err := decodeBounded(data, jpeg.DecodeConfig, jpeg.Decode)
		if err != nil {
			return nil, "", err
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 88}); err != nil {
			return nil, "", err
		}
		return b.Bytes(), "jpg", nil
	case "image/png":
		img, err := decodeBounded(data, png.DecodeConfig, png.Decode)
		if err != nil {
			return nil, "", err
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return nil, "", err
		}
		return b.Bytes(), "png", nil
	case "image/webp":
		out, err := stripWebP(data)
		return out, "webp", err
	}
	return nil, "", ErrBadImage
}

func decodeBounded(data []byte, conf func(io.Reader) (image.Config, error), dec func(io.Reader) (image.Image, error)) (image.Image, error) {
	c, err := conf(bytes.NewReader(data))
	if err != nil || c.Width <= 0 || c.Height <= 0 || int64(c.Width)*int64(c.Height) > MaxImagePixels {
		return nil, ErrBadImage.WithMessage("the image is damaged or too large")
	}
	img, err := dec(bytes.NewReader(data))
	if err != nil {
		return nil, ErrBadImage.WithMessage("the image is damaged")
	}
	return img, nil
}

// stripWebP rewrites a RIFF WebP container without its EXIF and XMP chunks, clearing their
// flags in the VP8X header, and checks that it holds an image chunk.
func stripWebP(data []byte) ([]byte, error) {
	bad := ErrBadImage.WithMessage("the WebP image is damaged")
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return nil, bad
	}
	var out bytes.Buffer
	out.WriteString("RIFF\x00\x00\x00\x00WEBP")
	rest, hasImage := data[12:], false
	for len(rest) > 0 {
		if len(rest) < 8 {
			return nil, bad
		}
		id, size := string(rest[:4]), binary.LittleEndian.Uint32(rest[4:8])
		padded := int64(size) + int64(size&1)
		if int64(len(rest)-8) < int64(size) {
			return nil, bad
		}
		end := 8 + padded
		if end > int64(len(rest)) {
			end = int64(len(rest))
		}
		chunk := rest[:end]
		rest = rest[end:]
		switch id {
		case "EXIF", "XMP ":
			continue
		case "VP8X":
			if size < 10 {
				return nil, bad
			}
			c := append([]byte(nil), chunk...)
			c[8] &^= 0x08 | 0x04 // EXIF and XMP flags
			chunk = c
		case "VP8 ", "VP8L", "ANMF":
			hasImage = true
		}
		out.Write(chunk)
	}
	if !hasImage {
		return nil, bad
	}
	b := out.Bytes()
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-8))
	return b, nil
}

// SaveImage cleans and stores an uploaded image and returns its URL path.
func (s *Service) SaveImage(ctx context.Context, st Storage, data []byte) (string, error) {
	if len(data) > MaxImageBytes {
		return "", ErrBadImage.WithMessage("the image is larger than 2 MiB")
	}
	clean, ext, err := CleanImage(data)
	if err != nil {
		return "", err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	name := hex.EncodeToString(id) + "." + ext
	if err := st.Put(ctx, name, contentTypeOf(name), clean); err != nil {
		return "", err
	}
	return ImagePathPrefix + name, nil
}
