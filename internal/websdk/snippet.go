package websdk

import (
	"html"
	"net/url"
	"strings"
)

// Snippet is the HTML a site adds to load posthog-js from Journey: PostHog's
// own loader (dist/loader.js of the vendored posthog-js, served as
// /static/loader.js), which installs the usual posthog stub, loads
// /static/array.js next to itself and calls posthog.init with the token
// and api host its tag names. It is the one source of the snippet: the
// API's settings answer it and the UI shows that.
func Snippet(token, host string) string {
	host = strings.TrimRight(host, "/")
	src := host + "/static/loader.js?project_token=" + url.QueryEscape(token)
	return "<!-- posthog-js " + PostHogJSVersion + ", served by Journey -->\n" +
		`<script src="` + html.EscapeString(src) + `" data-api-host="` + html.EscapeString(host) + `"></script>`
}

// TestedVersions are the browser SDK releases Journey's browser tests
// load, for the Settings page and the README.
func TestedVersions() map[string]string {
	return map[string]string{"posthog-js": PostHogJSVersion, "@segment/analytics-next": SegmentVersion}
}
