// The Go yardstick of scenario 1: baseline.py's minimal router written again in Go's standard
// library, on one core (GOMAXPROCS 1, and the rig pins it with taskset like the others).
//
// The same work as baseline.py, step for step: parse the lead, ping every buyer at once with the
// same anonymized ping under one deadline for the whole fan-out, take the highest bid, post the
// lead to it, answer the same JSON. No validation, normalization, store, idempotency, trace or
// metrics. baseline.py is the floor of pingtree's own stack (Python, aiohttp); this is the floor
// of a compiled stack with a good HTTP client, to see how far the Python stack itself is from it.
//
// Usage: yardstick-go --config market.json --host 127.0.0.1 --port 8091, where market.json is
// the rig's {"buyers": [{"id": "b1", "ping": URL, "post": URL}, ...], "timeout_s": 1.0}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// What never goes into a ping (DESIGN §8), and the lead's own fields: everything else of the
// lead is a vertical attribute. The same two sets as baseline.py's PII and LEAD_FIELDS.
var pii = []string{
	"first_name", "last_name", "phone", "email", "address", "city", "dob", "ip_address",
	"trustedform_url", "jornaya_leadid",
}
var leadFields = map[string]bool{
	"lead_id": true, "vertical": true, "sub_id": true, "state": true, "zip": true,
	"tcpa_consent": true, "test": true, "consent_timestamp": true, "source_url": true,
}

func init() {
	for _, field := range pii {
		leadFields[field] = true
	}
}

type buyer struct {
	ID   string `json:"id"`
	Ping string `json:"ping"`
	Post string `json:"post"`
}

type market struct {
	Buyers   []buyer  `json:"buyers"`
	TimeoutS *float64 `json:"timeout_s"`
}

// The ping, field for field baseline.py's ping_body (a struct keeps its order).
type ping struct {
	PingID         string         `json:"ping_id"`
	Vertical       any            `json:"vertical"`
	State          any            `json:"state"`
	Zip            any            `json:"zip"`
	Seller         string         `json:"seller"`
	SubID          any            `json:"sub_id"`
	Attributes     map[string]any `json:"attributes"`
	TCPAConsent    any            `json:"tcpa_consent"`
	HasTrustedform bool           `json:"has_trustedform"`
	Test           bool           `json:"test"`
}

// A buyer's answer, to a ping or a post. `accepted` must be JSON true (baseline.py's `is True`);
// a bid may be a number or a string holding one (baseline.py's float()).
type buyerAnswer struct {
	Accepted bool        `json:"accepted"`
	Bid      json.Number `json:"bid"`
}

type leadAnswer struct {
	ID     string   `json:"id"`
	LeadID any      `json:"lead_id"`
	Status string   `json:"status"`
	Payout *float64 `json:"payout"`
}

type router struct {
	buyers  []buyer
	timeout time.Duration
	client  *http.Client
	leads   atomic.Int64
}

// newClient is the one client every call shares: keep-alive connections, as many idle ones per
// buyer as leads are in flight (Go keeps 2 by default, which would reconnect under load), no
// proxy, no redirects followed, no timers of its own (the fan-out has one deadline).
func newClient() *http.Client {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no limit over all buyers
		MaxIdleConnsPerHost: 1024,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func pingBody(lead map[string]any, pingID string) ([]byte, error) {
	attributes := make(map[string]any, len(lead))
	for key, value := range lead {
		if !leadFields[key] {
			attributes[key] = value
		}
	}
	return json.Marshal(ping{
		PingID:         pingID,
		Vertical:       lead["vertical"],
		State:          lead["state"],
		Zip:            lead["zip"],
		Seller:         "bench",
		SubID:          lead["sub_id"],
		Attributes:     attributes,
		TCPAConsent:    lead["tcpa_consent"],
		HasTrustedform: truthy(lead["trustedform_url"]),
		Test:           false,
	})
}

// truthy is Python's bool() of a JSON value.
func truthy(value any) bool {
	switch v := value.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, err := v.Float64()
		return err != nil || f != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// call is the buyer's JSON answer, or nil for anything else: a failed buyer just loses. The
// HTTP status is not looked at, as baseline.py does not.
func (r *router) call(ctx context.Context, url string, body []byte) *buyerAnswer {
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	request.Header.Set("Content-Type", "application/json")
	response, err := r.client.Do(request)
	if err != nil {
		return nil
	}
	defer response.Body.Close()
	raw, err := io.ReadAll(response.Body) // read to the end: the connection goes back to the pool
	if err != nil {
		return nil
	}
	var answer buyerAnswer
	if json.Unmarshal(raw, &answer) != nil {
		return nil
	}
	return &answer
}

type pinged struct {
	index  int
	answer *buyerAnswer
}

// fanOut pings every buyer at once and waits for all of them under one deadline. Past it, no
// answer counts, as baseline.py's asyncio.timeout around its gather; the calls still out are
// cancelled.
func (r *router) fanOut(ctx context.Context, body []byte) []*buyerAnswer {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	results := make(chan pinged, len(r.buyers)) // buffered: a call cancelled late never blocks
	for i, b := range r.buyers {
		go func(i int, url string) { results <- pinged{i, r.call(ctx, url, body)} }(i, b.Ping)
	}
	answers := make([]*buyerAnswer, len(r.buyers))
	for range r.buyers {
		select {
		case result := <-results:
			answers[result.index] = result.answer
		case <-ctx.Done():
			return make([]*buyerAnswer, len(r.buyers))
		}
	}
	return answers
}

// highestBid is the first buyer with the highest accepted bid (Python's max keeps the first). An
// accepted answer whose bid is no number loses here; baseline.py would fail the lead with a 500.
func highestBid(answers []*buyerAnswer) (int, float64, bool) {
	winner, best, found := -1, 0.0, false
	for i, answer := range answers {
		if answer == nil || !answer.Accepted {
			continue
		}
		bid, err := strconv.ParseFloat(answer.Bid.String(), 64)
		if err != nil {
			continue
		}
		if !found || bid > best {
			winner, best, found = i, bid, true
		}
	}
	return winner, best, found
}

func (r *router) postLead(w http.ResponseWriter, request *http.Request) {
	if request.Method != http.MethodPost {
		http.Error(w, "405: Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	var lead map[string]any
	decoder := json.NewDecoder(request.Body)
	decoder.UseNumber() // numbers go to the buyers as the seller wrote them
	if err := decoder.Decode(&lead); err != nil || lead == nil {
		// baseline.py fails the same request on its unhandled error: a 500
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	number := r.leads.Add(1)
	pingID := "pg_" + strconv.FormatInt(number, 10)
	body, err := pingBody(lead, pingID)
	if err != nil {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	answer := leadAnswer{ID: "ld_" + strconv.FormatInt(number, 10), LeadID: lead["lead_id"]}
	answer.Status = "unsold"
	if winner, price, found := highestBid(r.fanOut(request.Context(), body)); found {
		lead["ping_id"], lead["price"] = pingID, price // {**lead, "ping_id": …, "price": …}
		post, err := json.Marshal(lead)
		if err == nil {
			taken := r.call(request.Context(), r.buyers[winner].Post, post)
			if taken != nil && taken.Accepted {
				payout := math.Round(price*0.8*100) / 100
				answer.Status, answer.Payout = "sold", &payout
			}
		}
	}
	out, _ := json.Marshal(answer)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func main() {
	config := flag.String("config", "", "market.json: the buyers' URLs")
	host := flag.String("host", "127.0.0.1", "")
	port := flag.Int("port", 8090, "")
	flag.Parse()
	if *config == "" {
		log.Fatal("--config is required")
	}
	raw, err := os.ReadFile(*config)
	if err != nil {
		log.Fatal(err)
	}
	var m market
	if err := json.Unmarshal(raw, &m); err != nil {
		log.Fatal(err)
	}
	timeoutS := 1.0 // baseline.py's market.get("timeout_s", 1.0)
	if m.TimeoutS != nil {
		timeoutS = *m.TimeoutS
	}
	// One core, as the router and baseline.py get one: one thread runs Go code at a time.
	runtime.GOMAXPROCS(1)
	r := &router{buyers: m.Buyers, timeout: time.Duration(timeoutS * float64(time.Second))}
	r.client = newClient()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/leads", r.postLead)
	address := net.JoinHostPort(*host, strconv.Itoa(*port))
	fmt.Printf("yardstick-go: %s, GOMAXPROCS %d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	log.Fatal(http.ListenAndServe(address, mux))
}
