package portal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// This file is the headless Chromium harness of the browser tests of both
// package portal and package portal_test. Its exported names exist only in
// test builds.

// Viewport is a browser window size that screenshots are taken at.
type Viewport struct {
	Name          string // "desktop" or "phone", the last part of a screenshot's file name
	Width, Height int64  // CSS pixels
}

// The two viewports of every screenshot: a laptop and a phone.
var (
	Desktop = Viewport{Name: "desktop", Width: 1280, Height: 900}
	Phone   = Viewport{Name: "phone", Width: 390, Height: 844}
)

// chromiumNames are the browser's command names, tried in order on $PATH.
// Debian's chromium package installs /usr/bin/chromium.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Browser is a headless Chromium tab for one test, with a folder for the
// test's screenshots.
type Browser struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	prefix string
	shots  int
}

// NewBrowser starts headless Chromium at the desktop viewport for one test
// and stops it when the test ends. prefix starts the test's screenshot file
// names, so tests that share a folder do not overwrite each other.
//
// Without Chromium the test is skipped, except when CI=true, where it
// fails, so CI never passes without running the browser tests.
func NewBrowser(t *testing.T, prefix string) *Browser {
	t.Helper()
	path := findChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		// Headless also passes --hide-scrollbars, so pages lay out and
		// screenshots show the full width of each viewport.
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(int(Desktop.Width), int(Desktop.Height)),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return &Browser{t: t, ctx: ctx, dir: screenshotDir(t), prefix: prefix}
}

// findChromium returns the browser's path. Without one it skips the test,
// or fails it when CI=true.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Chromium not found on $PATH (tried %v), and CI must run the browser tests: install it with apt-get install chromium", chromiumNames)
	}
	t.Skipf("Chromium not found on $PATH (tried %v), so the browser tests are skipped: install it with apt-get install chromium", chromiumNames)
	return ""
}

// screenshotDir is $GATEHOUSE_SCREENSHOTS when set, so a person can look
// at the screenshots after the run, else a temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Context returns the chromedp context of the browser's tab.
func (b *Browser) Context() context.Context { return b.ctx }

// Dir returns the folder of the screenshots.
func (b *Browser) Dir() string { return b.dir }

// Shot returns an action that saves the whole page at each viewport, as
// PREFIX-NN-NAME-VIEWPORT.png with NN counting the test's shots, and
// leaves the tab at the desktop viewport. With no viewport it saves the
// desktop and the phone size.
func (b *Browser) Shot(name string, viewports ...Viewport) chromedp.Action[chromedp.Void] {
	if len(viewports) == 0 {
		viewports = []Viewport{Desktop, Phone}
	}
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		b.shots++
		for _, v := range viewports {
			png, err := atViewport(v, chromedp.FullScreenshot(100))(ctx, target)
			if err != nil {
				return fmt.Errorf("screenshot %s at %s: %w", name, v.Name, err)
			}
			file := filepath.Join(b.dir, fmt.Sprintf("%s-%02d-%s-%s.png", b.prefix, b.shots, name, v.Name))
			if err := os.WriteFile(file, png, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// sidewaysScrollScript lists what scrolls sideways: the page when it is
// wider than the window, and each element that scrolls its content
// sideways (such as a .table-wrap) because the content is wider than it.
const sidewaysScrollScript = `(() => {
	const found = [];
	const root = document.documentElement;
	if (root.scrollWidth > root.clientWidth) {
		found.push("the page is " + root.scrollWidth + " px wide in a " + root.clientWidth + " px window");
	}
	for (const el of document.querySelectorAll("body *")) {
		const overflow = getComputedStyle(el).overflowX;
		if ((overflow === "auto" || overflow === "scroll") && el.scrollWidth > el.clientWidth) {
			const name = el.tagName.toLowerCase() + (el.className ? "." + el.className.split(" ").join(".") : "");
			found.push(name + " scrolls: " + el.scrollWidth + " px of content in " + el.clientWidth + " px");
		}
	}
	return found;
})()`

// SidewaysScroll returns an action that lists what scrolls sideways on
// the page at the viewport v: the page itself, or an element whose content
// is wider than the element. An empty list means the page reads without
// sideways scrolling.
func (b *Browser) SidewaysScroll(v Viewport) chromedp.Action[[]string] {
	return atViewport(v, chromedp.Evaluate[[]string](sidewaysScrollScript))
}

// atViewport returns an action that runs a at the viewport v and then
// returns the tab to the desktop viewport.
func atViewport[T any](v Viewport, a chromedp.Action[T]) chromedp.Action[T] {
	return func(ctx context.Context, target *chromedp.Target) (T, error) {
		var zero T
		if _, err := chromedp.EmulateViewport(v.Width, v.Height)(ctx, target); err != nil {
			return zero, err
		}
		value, err := a(ctx, target)
		if err != nil {
			return zero, err
		}
		_, err = chromedp.EmulateViewport(Desktop.Width, Desktop.Height)(ctx, target)
		return value, err
	}
}

// into runs a and stores its value in dst, so actions that return values
// fit in one chromedp.Do sequence.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		v, err := a(ctx, target)
		*dst = v
		return err
	})
}
