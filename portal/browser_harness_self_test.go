package portal

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// harnessPages are the pages the harness tests load: a tall page that fits
// any width, with a red strip along its right edge, and a page with a
// 600 px wide block that scrolls sideways at phone width.
var harnessPages = map[string]string{
	"/tall": `<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0 } #tall { height: 3000px; position: relative }
#edge { position: absolute; top: 0; right: 0; width: 4px; height: 100px; background: rgb(255, 0, 0) }</style>
<div id="tall"><div id="edge"></div></div>`,
	"/wide": `<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0 }</style><div style="width: 600px; height: 3000px">wide</div>`,
}

func serveHarnessPages(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := harnessPages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserPhoneShotShowsFullWidth checks that a phone screenshot lays
// the page out at the full 390 px and shows its right edge, so a
// scrollbar neither narrows the layout nor covers content.
func TestBrowserPhoneShotShowsFullWidth(t *testing.T) {
	t.Parallel()
	b := NewBrowser(t, "harness")
	srv := serveHarnessPages(t)

	var width int64
	var shot []byte
	err := chromedp.Do(b.Context(),
		chromedp.Navigate(srv.URL+"/tall"),
		chromedp.WaitVisible(chromedp.CSS(`#edge`)),
		into(&width, atViewport(Phone, chromedp.Evaluate[int64](`document.documentElement.clientWidth`))),
		into(&shot, atViewport(Phone, chromedp.FullScreenshot(100))),
	)
	if err != nil {
		t.Fatalf("load the tall page: %v", err)
	}

	if width != Phone.Width {
		t.Errorf("layout width at phone size = %d px, want %d", width, Phone.Width)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	if got := img.Bounds().Dx(); got != int(Phone.Width) {
		t.Errorf("screenshot width = %d px, want %d", got, Phone.Width)
	}
	if !isRed(img, img.Bounds().Max.X-2, 50) {
		t.Errorf("the screenshot's right edge does not show the page's red strip")
	}
}

// TestBrowserSidewaysScrollAtPhone checks that SidewaysScroll reports a
// page wider than the phone and nothing for a page that fits.
func TestBrowserSidewaysScrollAtPhone(t *testing.T) {
	t.Parallel()
	b := NewBrowser(t, "harness")
	srv := serveHarnessPages(t)

	scrolls := func(path string) []string {
		t.Helper()
		var found []string
		err := chromedp.Do(b.Context(),
			chromedp.Navigate(srv.URL+path),
			chromedp.WaitReady(chromedp.CSS(`body`)),
			into(&found, b.SidewaysScroll(Phone)),
		)
		if err != nil {
			t.Fatalf("load %s: %v", path, err)
		}
		return found
	}

	wide := scrolls("/wide")
	if len(wide) != 1 || !strings.Contains(wide[0], "the page is 600 px wide in a 390 px window") {
		t.Errorf("SidewaysScroll on the wide page = %q, want the page reported as 600 px wide in a 390 px window", wide)
	}
	if tall := scrolls("/tall"); len(tall) != 0 {
		t.Errorf("SidewaysScroll on the page that fits = %q, want nothing", tall)
	}
}

func isRed(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r>>8 > 200 && g>>8 < 60 && b>>8 < 60
}
