package objstore

import (
	"fmt"
	"log/slog"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
)

// S3 is a Bucket in an S3 bucket, under an optional name prefix. Every
// call to S3 has its own deadline and is retried with backoff and jitter
// when a retry may succeed (see S3Config); objects larger than a part go
// up in multipart uploads. It is safe for concurrent use, and so are the
// readers Open returns.
type S3 struct {
	cfg S3Config
	// prefix is cfg.Prefix as put before every object name.
	prefix  string
	client  *minio.Client
	metrics *metrics
	logger  *slog.Logger
}

// NewS3 returns the bucket cfg describes. It makes no request: Check
// tells whether the bucket can be used, else a bucket that is missing or
// unreachable shows on first use. reg receives the spanlog_objstore_*
// metrics.
func NewS3(cfg S3Config, reg prometheus.Registerer, logger *slog.Logger) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(!cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("s3 transport: %w", err)
	}
	if cfg.InsecureSkipVerify && transport.TLSClientConfig != nil {
		transport.TLSClientConfig.InsecureSkipVerify = true
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        s3Credentials(cfg),
		Secure:       !cfg.Insecure,
		Transport:    transport,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   1, // one attempt per request: our loop does the retries
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &S3{
		cfg:     cfg,
		prefix:  cfg.keyPrefix(),
		client:  client,
		metrics: m,
		logger:  logger,
	}, nil
}

// s3Credentials returns cfg's static credentials if it has some, else the
// first found in the environment (AWS's variables, then MinIO's) or the
// IAM role of the instance, container or pod.
func s3Credentials(cfg S3Config) *credentials.Credentials {
	if cfg.AccessKeyID != "" {
		return credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.IAM{},
	})
}

// key returns the S3 key of object name.
func (s *S3) key(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return s.prefix + name, nil
}
