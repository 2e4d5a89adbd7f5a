package capture

import (
	"net/http"

	"github.com/journey-dev/journey/internal/enrich"
)

// enrichAddresses sets $ip and the GeoIP properties of the request's events
// under the project's IP mode (see enrich.Batch.Address). It runs after the
// token is known, since the mode is the project's; the user agent is done
// earlier, in the decoders, which the importer shares.
func (h *handler) enrichAddresses(r *http.Request, d Decoded) error {
	mode := enrich.IPKeep
	if m, ok := h.projects.(IPModes); ok {
		var err error
		if mode, err = m.IPMode(r.Context(), d.Token); err != nil {
			return err
		}
	}
	b := enrich.Batch{
		Conn:  enrich.ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), h.trusted),
		Mode:  mode,
		GeoIP: h.geo,
	}
	for i := range d.Events {
		if d.Events[i].Properties == nil {
			d.Events[i].Properties = map[string]any{}
		}
		b.Address(d.Events[i].Properties)
	}
	return nil
}
