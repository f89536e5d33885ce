package objstore

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// S3 part sizes outside these bounds are refused by S3 itself.
const (
	minPartSizeBytes = 5 << 20
	maxPartSizeBytes = 5 << 30
)

// S3Config configures the S3 backend (AWS S3, MinIO or any S3 API).
type S3Config struct {
	// Endpoint is the S3 API's host[:port], without a scheme.
	// Default empty: required.
	Endpoint string `yaml:"endpoint" help:"S3 endpoint as host[:port], without scheme (s3.eu-west-1.amazonaws.com, minio:9000)."`
	// Bucket must exist, unless CreateBucket. Default empty: required.
	Bucket string `yaml:"bucket" help:"S3 bucket holding the objects; it must exist unless create-bucket is set."`
	// CreateBucket creates Bucket at startup when it does not exist, in
	// Region (S3's default, us-east-1, when empty). Default false: a
	// missing bucket stops startup with a message naming it.
	CreateBucket bool `yaml:"create-bucket" help:"Create the bucket at startup if it does not exist; false refuses to start without it."`
	// Prefix is put before every object name, so several deployments can
	// share a bucket; a trailing "/" is implied. Default empty.
	Prefix string `yaml:"prefix" help:"Prefix of every object name inside the bucket, e.g. spanlog/prod; empty for none."`
	// Region is the bucket's region. Default empty: asked of the bucket on
	// first use.
	Region string `yaml:"region" help:"Region of the bucket; empty asks the bucket (one extra request)."`
	// AccessKeyID and SecretAccessKey are static credentials. Default
	// empty: credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
	// (and AWS_SESSION_TOKEN), then MINIO_ROOT_USER/MINIO_ROOT_PASSWORD,
	// then the IAM role of the instance, container or pod.
	AccessKeyID string `yaml:"access-key-id" help:"Static access key ID; empty takes credentials from the environment, then from IAM."`
	// SecretAccessKey goes with AccessKeyID. Default empty.
	SecretAccessKey string `yaml:"secret-access-key" help:"Static secret access key, set with access-key-id."`
	// Insecure talks plain HTTP. Default false (HTTPS).
	Insecure bool `yaml:"insecure" help:"Use plain HTTP instead of HTTPS."`
	// InsecureSkipVerify accepts any TLS certificate. Default false.
	InsecureSkipVerify bool `yaml:"insecure-skip-verify" help:"Do not verify the endpoint's TLS certificate (testing only)."`
	// PathStyle addresses the bucket as endpoint/bucket rather than
	// bucket.endpoint. Default false: virtual-host style for AWS and
	// Google endpoints, path style for any other.
	PathStyle bool `yaml:"path-style" help:"Always address the bucket as endpoint/bucket (path style); false picks by endpoint."`
	// RequestTimeout bounds each attempt of a call, once for every
	// PartSizeBytes the attempt transfers (at least once): with the
	// defaults an attempt must move 16 MiB per 10 s. A List attempt reads
	// a whole level of names within one RequestTimeout. Default 10s.
	RequestTimeout time.Duration `yaml:"request-timeout" help:"Time limit of one attempt of one call, granted again for each part-size of data the attempt transfers."`
	// MaxRetries is how many times a call is retried after a failure that
	// may pass (network errors, timeouts, 5xx, throttling). 0 disables
	// retries. Default 5.
	MaxRetries int `yaml:"max-retries" help:"Retries of a call after a network error, timeout, 5xx or throttling; 0 disables retries."`
	// RetryBackoff caps the wait before the first retry; the cap doubles
	// with each retry up to RetryMaxBackoff, and each wait is drawn
	// uniformly below its cap. Default 100ms.
	RetryBackoff time.Duration `yaml:"retry-backoff" help:"Cap of the random wait before the first retry; doubles per retry up to retry-max-backoff."`
	// RetryMaxBackoff is the largest cap of a wait between retries.
	// Default 5s.
	RetryMaxBackoff time.Duration `yaml:"retry-max-backoff" help:"Largest cap of the random wait between retries."`
	// StartupCheckTimeout bounds how long startup waits for S3 to answer
	// its check of the bucket and the credentials: attempts that get no
	// answer (network errors, timeouts, 5xx, throttling) are retried with
	// backoff within it. An answer saying what is wrong (no such bucket,
	// unknown key, wrong secret, access denied) stops startup at once;
	// no answer within the timeout starts the process anyway, with an
	// error logged (see Open). Default 15s.
	StartupCheckTimeout time.Duration `yaml:"startup-check-timeout" help:"How long startup retries the check of the bucket and credentials while S3 does not answer, before starting without it."`
	// PartSizeBytes is the size of the parts of a multipart upload; an
	// object up to this size goes up in one request. An upload from a
	// reader that is not an io.ReaderAt and io.Seeker (as *bytes.Reader
	// and *os.File are) holds one part in memory; the others stream four
	// parts at a time. Between 5 MiB and 5 GiB. Default 16 MiB.
	PartSizeBytes int64 `yaml:"part-size-bytes" help:"Part size of multipart uploads (5 MiB to 5 GiB); smaller objects go up in one request."`
}

// DefaultS3Config returns the defaults of the S3 backend; Endpoint and
// Bucket have none.
func DefaultS3Config() S3Config {
	return S3Config{
		RequestTimeout:      10 * time.Second,
		MaxRetries:          5,
		RetryBackoff:        100 * time.Millisecond,
		RetryMaxBackoff:     5 * time.Second,
		StartupCheckTimeout: 15 * time.Second,
		PartSizeBytes:       16 << 20,
	}
}

// Validate reports a configuration that cannot work.
func (c S3Config) Validate() error {
	switch {
	case c.Endpoint == "":
		return errors.New("storage: s3 needs an endpoint")
	case strings.Contains(c.Endpoint, "://"):
		return fmt.Errorf("storage: s3 endpoint %q must not have a scheme (set insecure for plain HTTP)", c.Endpoint)
	case c.Bucket == "":
		return errors.New("storage: s3 needs a bucket")
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return errors.New("storage: s3 access-key-id and secret-access-key go together")
	case c.RequestTimeout <= 0:
		return errors.New("storage: s3 request-timeout must be positive")
	case c.MaxRetries < 0:
		return errors.New("storage: s3 max-retries must not be negative")
	case c.RetryBackoff <= 0 || c.RetryMaxBackoff < c.RetryBackoff:
		return errors.New("storage: s3 retry-backoff must be positive and at most retry-max-backoff")
	case c.StartupCheckTimeout <= 0:
		return errors.New("storage: s3 startup-check-timeout must be positive")
	case c.PartSizeBytes < minPartSizeBytes || c.PartSizeBytes > maxPartSizeBytes:
		return fmt.Errorf("storage: s3 part-size-bytes %d is outside [5 MiB, 5 GiB]", c.PartSizeBytes)
	}
	if err := checkPrefix(c.keyPrefix()); err != nil {
		return fmt.Errorf("storage: s3 prefix: %w", err)
	}
	return nil
}

// keyPrefix is Prefix as put before object names: empty or ending in "/".
func (c S3Config) keyPrefix() string {
	p := strings.Trim(c.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
