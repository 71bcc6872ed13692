package postgresql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"matih.local/tools/standin-providers/internal/props"
)

// Config is the provider configuration, with upstream's defaults (the PG*
// environment variables, then localhost:5432, database and user postgres,
// superuser true, a 180 s connect timeout).
type Config struct {
	Host             string
	Port             int
	Database         string
	Username         string
	Password         string
	DatabaseUsername string
	SSLMode          string
	SSLRootCert      string
	Superuser        bool
	// ConnectTimeout in seconds; 0 or less waits indefinitely, as upstream.
	ConnectTimeout int
}

// configKeys are the configuration keys this stand-in reads.
var configKeys = []string{
	"host", "port", "database", "username", "password", "databaseUsername", "sslmode", "sslMode",
	"sslrootcert", "superuser", "connectTimeout", "scheme", "maxConnections", "expectedVersion", "version",
}

// unsupportedConfigKeys are upstream keys for cloud IAM logins, client
// certificates and jump hosts, which the stand-in does not implement.
var unsupportedConfigKeys = []string{
	"awsRdsIamAuth", "awsRdsIamProfile", "awsRdsIamRegion", "awsRdsIamProviderRoleArn",
	"azureIdentityAuth", "azureTenantId", "gcpIamImpersonateServiceAccount", "clientcert",
}

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// configFromVariables turns the deprecated `postgresql:config:<key>` map into
// properties (values are strings, JSON for non-strings).
func configFromVariables(vars map[string]string) resource.PropertyMap {
	m := resource.PropertyMap{}
	for k, v := range vars {
		key := k
		if i := strings.LastIndex(k, ":"); i >= 0 {
			key = k[i+1:]
		}
		m[resource.PropertyKey(key)] = resource.NewProperty(v)
	}
	return m
}

// checkConfig reports what parseConfig would reject, skipping unknown values.
func checkConfig(m resource.PropertyMap) props.CheckFailures {
	var failures props.CheckFailures
	for k := range m {
		key := string(k)
		switch {
		case slices.Contains(unsupportedConfigKeys, key):
			failures.Add(key, "%s is not implemented by the postgresql stand-in (password logins only)", key)
		case !slices.Contains(configKeys, key) && !resource.IsInternalPropertyKey(k):
			failures.Add(key, "unknown configuration key %q", key)
		}
	}
	known := resource.PropertyMap{}
	for k, v := range m {
		if !v.ContainsUnknowns() {
			known[k] = v
		}
	}
	if _, err := parseConfig(known); err != nil {
		failures.Add("", "%s", err.Error())
	}
	return failures
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// parseConfig reads the configuration; values may be strings (the Node SDK
// sends port, superuser and connectTimeout JSON-encoded) or typed.
func parseConfig(m resource.PropertyMap) (Config, error) {
	var errs []error
	str := func(key, fallback string) string {
		s, ok, err := props.String(m, key)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			return fallback
		}
		return s
	}
	num := func(key string, fallback int) int {
		n, ok, err := props.Int(m, key)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			return fallback
		}
		return int(n)
	}
	envInt := func(name string, fallback int) int {
		if v := os.Getenv(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
		return fallback
	}
	envBool := func(name string, fallback bool) bool {
		if v := os.Getenv(name); v != "" {
			if b, err := strconv.ParseBool(v); err == nil {
				return b
			}
		}
		return fallback
	}
	c := Config{
		Host:             str("host", envOr("PGHOST", "localhost")),
		Port:             num("port", envInt("PGPORT", 5432)),
		Database:         str("database", envOr("PGDATABASE", "postgres")),
		Username:         str("username", envOr("PGUSER", "postgres")),
		Password:         str("password", os.Getenv("PGPASSWORD")),
		DatabaseUsername: str("databaseUsername", ""),
		SSLMode:          str("sslmode", str("sslMode", os.Getenv("PGSSLMODE"))),
		SSLRootCert:      str("sslrootcert", ""),
		ConnectTimeout:   num("connectTimeout", envInt("PGCONNECT_TIMEOUT", 180)),
	}
	c.Superuser = envBool("PGSUPERUSER", true)
	if b, ok, err := props.Bool(m, "superuser"); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.Superuser = b
	}
	if scheme := str("scheme", "postgres"); scheme != "postgres" {
		errs = append(errs, fmt.Errorf("scheme %q is not implemented by the postgresql stand-in (only postgres)", scheme))
	}
	if c.SSLMode == "" {
		// Upstream connects through lib/pq, whose default is require.
		c.SSLMode = "require"
	}
	if !slices.Contains(sslModes, c.SSLMode) {
		errs = append(errs, fmt.Errorf("sslmode must be one of %s, got %q", strings.Join(sslModes, ", "), c.SSLMode))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port must be between 1 and 65535, got %d", c.Port))
	}
	if c.ConnectTimeout < -1 {
		errs = append(errs, fmt.Errorf("connectTimeout must be at least -1, got %d", c.ConnectTimeout))
	}
	return c, errors.Join(errs...)
}

// dsnValue quotes a keyword/value connection string value.
func dsnValue(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "'" + s + "'"
}

// connect opens a connection to database (the configured one when empty).
// The password is set on the parsed configuration, never written into a
// connection string, so no parse error can quote it.
func (c Config) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	if database == "" {
		database = c.Database
	}
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=%s application_name=%s",
		dsnValue(c.Host), c.Port, dsnValue(database), dsnValue(c.Username), dsnValue(c.SSLMode),
		dsnValue("pulumi-resource-postgresql (stand-in)"))
	if c.SSLRootCert != "" {
		dsn += " sslrootcert=" + dsnValue(c.SSLRootCert)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, props.Redact(fmt.Errorf("postgresql connection settings: %w", err), c.Password)
	}
	if c.Password != "" {
		cfg.Password = c.Password
	}
	if c.ConnectTimeout > 0 {
		timeout := time.Duration(c.ConnectTimeout) * time.Second
		cfg.ConnectTimeout = timeout
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	} else {
		cfg.ConnectTimeout = 0
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, props.Redact(fmt.Errorf("connecting to PostgreSQL at %s:%d (database %s, user %s): %w",
			c.Host, c.Port, database, c.Username, err), c.Password)
	}
	return conn, nil
}

// isMissingDatabase reports a connection refused because the database does not exist.
func isMissingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "3D000"
	}
	return strings.Contains(err.Error(), "SQLSTATE 3D000")
}
