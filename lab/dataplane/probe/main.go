// meshops-probe: the lab's test client. It sends N gRPC Echo calls to one target and prints
// one JSON object per call (status code, answering version and pod, elapsed time), so the
// lab can compare what the mesh does with what the collection predicts.
//
// With an xds:/// target it is a proxyless mesh client: it reads the workload's gRPC xDS
// bootstrap (GRPC_XDS_BOOTSTRAP, written by pilot-agent) and uses mTLS when istiod tells it to.
// With a host:port target it is a plain client without sidecar.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and balancers

	"istio.io/istio/pkg/test/echo/proto"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ",") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type call struct {
	Index   int     `json:"i"`
	Code    string  `json:"code"`
	Version string  `json:"version"`
	Host    string  `json:"host"`
	Ms      float64 `json:"ms"`
	Error   string  `json:"error,omitempty"`
}

// field returns the value of a "Key=value" line of the echo server's answer.
func field(body, key string) string {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, key+"=") {
			return strings.TrimSpace(strings.TrimPrefix(line, key+"="))
		}
	}
	return ""
}

func main() {
	var hdrs headers
	target := flag.String("target", "", "xds:///<host>:<port> (mesh client) or <ip>:<port> (plain client)")
	count := flag.Int("count", 1, "calls to send")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each call")
	settle := flag.Duration("settle", 20*time.Second, "time the channel may take to resolve (xDS) and connect before the first call")
	flag.Var(&hdrs, "H", "request header key=value (repeatable)")
	flag.Parse()
	if *target == "" || *count < 1 {
		fmt.Fprintln(os.Stderr, "usage: meshops-probe -target T [-count N] [-timeout D] [-H k=v ...]")
		os.Exit(2)
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if strings.HasPrefix(*target, "xds:") {
		var err error
		creds, err = xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "xds credentials:", err)
			os.Exit(1)
		}
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(creds))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	// Let the channel resolve the target through xDS and connect (or fail to) before the first
	// call, so that no call's deadline is spent on the set-up of this short-lived client.
	conn.Connect()
	settleCtx, settleCancel := context.WithTimeout(context.Background(), *settle)
	for state := conn.GetState(); state == connectivity.Idle || state == connectivity.Connecting; state = conn.GetState() {
		if !conn.WaitForStateChange(settleCtx, state) {
			break
		}
	}
	settleCancel()
	client := proto.NewEchoTestServiceClient(conn)
	md := metadata.MD{}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			fmt.Fprintln(os.Stderr, "header must be key=value:", h)
			os.Exit(2)
		}
		md.Append(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	out := json.NewEncoder(os.Stdout)
	for i := 0; i < *count; i++ {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), *timeout)
		start := time.Now()
		resp, err := client.Echo(ctx, &proto.EchoRequest{Message: "meshops-probe"})
		cancel()
		c := call{Index: i, Ms: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			st := status.Convert(err)
			c.Code, c.Error = st.Code().String(), st.Message()
		} else {
			c.Code = "OK"
			c.Version = field(resp.GetMessage(), "ServiceVersion")
			c.Host = field(resp.GetMessage(), "Hostname")
		}
		if err := out.Encode(c); err != nil {
			os.Exit(1)
		}
	}
}
