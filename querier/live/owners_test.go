package live

import "testing"

func TestAddressInGroupMetadata(t *testing.T) {
	for _, rest := range [][]byte{nil, []byte("sticky user data")} {
		addr, got := unwrapAddress(wrapAddress("10.0.0.7:3200", rest))
		if addr != "10.0.0.7:3200" || string(got) != string(rest) {
			t.Errorf("round trip of %q: %q, %q", rest, addr, got)
		}
	}
	for _, foreign := range [][]byte{nil, []byte("spanlog-querier/1:"), []byte("spanlog-querier/1:\xff"), []byte("other")} {
		if addr, rest := unwrapAddress(foreign); addr != "" || string(rest) != string(foreign) {
			t.Errorf("%q: address %q, rest %q; want none and the data as is", foreign, addr, rest)
		}
	}
}
