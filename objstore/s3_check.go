package objstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
)

// Check makes sure, before a process starts on the bucket, that S3
// answers, accepts the credentials, and has the bucket and lets them list
// it; with CreateBucket it creates a missing bucket. Without it, a wrong
// bucket or key would show only as WARN lines of failing uploads and
// polls, and as queries waiting on a blocklist that never loads.
//
// An answer of S3 that says what is wrong fails the check at once, with
// what to fix: it would say the same again. No answer (network errors,
// timeouts, 5xx, throttling) is retried with backoff for up to
// StartupCheckTimeout, so that S3 starting alongside spanlog, or down for
// a moment, delays the start; past that, the check fails with an error
// that is ErrNoAnswer.
func (s *S3) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.StartupCheckTimeout, errCheckTimeout)
	defer cancel()
	start := time.Now()
	for n := 1; ; n++ {
		err := s.checkOnce(ctx)
		if err == nil {
			return nil
		}
		if context.Cause(ctx) == errCheckTimeout {
			return fmt.Errorf("storage: S3 at %s %w within %v (storage.s3.startup-check-timeout): %w; check storage.s3.endpoint and storage.s3.insecure, and that S3 is up and reachable",
				s.cfg.Endpoint, ErrNoAnswer, s.cfg.StartupCheckTimeout, err)
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !retryable(err) {
			return s.explain(err)
		}
		wait := backoff(n, s.cfg.RetryBackoff, s.cfg.RetryMaxBackoff)
		s.logger.Warn("waiting for S3 to answer the startup check", "endpoint", s.cfg.Endpoint, "bucket", s.cfg.Bucket,
			"attempt", n, "waited", time.Since(start).Round(time.Millisecond), "retryIn", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

var (
	// ErrNoAnswer is why a Check failed that S3 never answered: it says
	// nothing of the bucket or the credentials, only that S3 could not be
	// reached within StartupCheckTimeout.
	ErrNoAnswer = errors.New("did not answer")
	// errCheckTimeout ends a Check that S3 did not answer in time.
	errCheckTimeout = errors.New("startup check timed out")
)

// checkOnce lists at most one object under the prefix, creating the
// bucket first if it is missing and CreateBucket says so.
func (s *S3) checkOnce(ctx context.Context) error {
	err := s.listOne(ctx)
	if resp, ok := errors.AsType[minio.ErrorResponse](err); !ok || resp.Code != minio.NoSuchBucket || !s.cfg.CreateBucket {
		return err
	}
	if err := s.createBucket(ctx); err != nil {
		return err
	}
	return s.listOne(ctx)
}

// listOne asks S3 for the first object under the prefix: a request that
// needs the bucket, valid credentials and the right to list.
func (s *S3) listOne(ctx context.Context) error {
	ctx, cancel := s.attemptContext(ctx, 0)
	defer cancel()
	for obj := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix, MaxKeys: 1}) {
		return obj.Err
	}
	// The iterator ends quietly when ctx does.
	return ctx.Err()
}

// createBucket creates the bucket in Region, or S3's default region.
func (s *S3) createBucket(ctx context.Context) error {
	ctx, cancel := s.attemptContext(ctx, 0)
	defer cancel()
	err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	if resp, ok := errors.AsType[minio.ErrorResponse](err); ok && resp.Code == minio.BucketAlreadyOwnedByYou {
		return nil // another process created it first
	}
	if err != nil {
		return err
	}
	s.logger.Info("created the S3 bucket (storage.s3.create-bucket)", "endpoint", s.cfg.Endpoint, "bucket", s.cfg.Bucket, "region", s.cfg.Region)
	return nil
}

// explain turns an answer of S3 that fails the check into what to fix.
func (s *S3) explain(err error) error {
	resp, ok := errors.AsType[minio.ErrorResponse](err)
	if !ok {
		return fmt.Errorf("storage: cannot use S3 at %s: %w", s.cfg.Endpoint, err)
	}
	switch resp.Code {
	case minio.NoSuchBucket:
		return fmt.Errorf("storage: S3 bucket %q does not exist at %s: create it, or set storage.s3.create-bucket: true (flag -storage.s3.create-bucket) to have spanlog create it",
			s.cfg.Bucket, s.cfg.Endpoint)
	case minio.BucketAlreadyExists:
		return fmt.Errorf("storage: S3 bucket %q does not exist for these credentials at %s and cannot be created: the name is taken by another account; choose another storage.s3.bucket",
			s.cfg.Bucket, s.cfg.Endpoint)
	case minio.InvalidAccessKeyID:
		return fmt.Errorf("storage: wrong S3 credentials: %s does not know access key ID %q; check %s",
			s.cfg.Endpoint, s.accessKeyID(), s.credentialSource("access-key-id", "AWS_ACCESS_KEY_ID", "MINIO_ROOT_USER"))
	case minio.SignatureDoesNotMatch:
		return fmt.Errorf("storage: wrong S3 credentials: %s rejected the signature made with access key ID %q, so the secret access key is wrong; check %s",
			s.cfg.Endpoint, s.accessKeyID(), s.credentialSource("secret-access-key", "AWS_SECRET_ACCESS_KEY", "MINIO_ROOT_PASSWORD"))
	case minio.AccessDenied:
		if s.accessKeyID() == "" {
			return errors.New("storage: no S3 credentials found: set storage.s3.access-key-id and storage.s3.secret-access-key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the instance an IAM role")
		}
		return fmt.Errorf("storage: access key ID %q may not list S3 bucket %q at %s: every spanlog role lists the bucket at startup (and queriers and compactors when they poll); grant it s3:ListBucket, and s3:GetObject and s3:PutObject, on the bucket",
			s.accessKeyID(), s.cfg.Bucket, s.cfg.Endpoint)
	}
	return fmt.Errorf("storage: S3 bucket %q at %s: %s: %s", s.cfg.Bucket, s.cfg.Endpoint, resp.Code, resp.Message)
}

// accessKeyID is the access key ID requests are signed with, or empty when
// none was found and requests go unsigned.
func (s *S3) accessKeyID() string {
	if s.cfg.AccessKeyID != "" {
		return s.cfg.AccessKeyID
	}
	v, err := s.client.GetCreds()
	if err != nil || v.SignerType.IsAnonymous() {
		return ""
	}
	return v.AccessKeyID
}

// credentialSource says where the credential named by key came from.
func (s *S3) credentialSource(key, awsEnv, minioEnv string) string {
	if s.cfg.AccessKeyID != "" {
		return "storage.s3." + key
	}
	return fmt.Sprintf("%s (or %s), which storage.s3.%s left empty, or the IAM role", awsEnv, minioEnv, key)
}
