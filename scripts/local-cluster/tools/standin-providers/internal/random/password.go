// Package random is the stand-in for the pulumi-random provider: the one
// resource the tenant program uses, RandomPassword, generated from crypto/rand.
package random

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/bcrypt"
)

// The character classes of the upstream provider.
const (
	NumericChars        = "0123456789"
	LowerChars          = "abcdefghijklmnopqrstuvwxyz"
	UpperChars          = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	DefaultSpecialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// Params are RandomPassword's generation inputs.
type Params struct {
	Length                                     int64
	Upper, Lower, Numeric, Special             bool
	MinUpper, MinLower, MinNumeric, MinSpecial int64
	OverrideSpecial                            string
}

// SpecialChars is the special class in force: overrideSpecial when set.
func (p Params) SpecialChars() string {
	if p.OverrideSpecial != "" {
		return p.OverrideSpecial
	}
	return DefaultSpecialChars
}

// Validate reports what upstream rejects: a length below 1 or below the sum
// of the minimums, a negative minimum, an empty character set.
func (p Params) Validate() error {
	if p.Length < 1 {
		return fmt.Errorf("length must be at least 1, got %d", p.Length)
	}
	for name, n := range map[string]int64{"minUpper": p.MinUpper, "minLower": p.MinLower, "minNumeric": p.MinNumeric, "minSpecial": p.MinSpecial} {
		if n < 0 {
			return fmt.Errorf("%s must be at least 0, got %d", name, n)
		}
	}
	if sum := p.MinUpper + p.MinLower + p.MinNumeric + p.MinSpecial; p.Length < sum {
		return fmt.Errorf("length (%d) must be at least the sum of minUpper, minLower, minNumeric and minSpecial (%d)", p.Length, sum)
	}
	if p.charset() == "" {
		return errors.New("the character set specified is empty: enable at least one of upper, lower, numeric, special")
	}
	return nil
}

func (p Params) charset() string {
	var chars string
	if p.Upper {
		chars += UpperChars
	}
	if p.Lower {
		chars += LowerChars
	}
	if p.Numeric {
		chars += NumericChars
	}
	if p.Special {
		chars += p.SpecialChars()
	}
	return chars
}

// Generate makes a password as upstream does: the minimum count from each
// class (whether or not the class is enabled, as upstream), the rest from
// all enabled classes, then a shuffle. Every draw is uniform, from crypto/rand.
func Generate(p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	out := make([]byte, 0, p.Length)
	for _, m := range []struct {
		chars string
		n     int64
	}{{NumericChars, p.MinNumeric}, {LowerChars, p.MinLower}, {UpperChars, p.MinUpper}, {p.SpecialChars(), p.MinSpecial}} {
		b, err := draw(m.chars, m.n)
		if err != nil {
			return "", err
		}
		out = append(out, b...)
	}
	b, err := draw(p.charset(), p.Length-int64(len(out)))
	if err != nil {
		return "", err
	}
	out = append(out, b...)
	// Fisher-Yates with crypto/rand.
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func draw(chars string, n int64) ([]byte, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(chars)))
	for i := range out {
		idx, err := rand.Int(rand.Reader, max)
		if err != nil {
			return nil, fmt.Errorf("reading randomness: %w", err)
		}
		out[i] = chars[idx.Int64()]
	}
	return out, nil
}

// BcryptHash is the bcryptHash output: bcrypt at the default cost over the
// password. bcrypt reads at most 72 bytes; a longer password is hashed over
// its first 72, which is what bcrypt always did before it started refusing
// longer input.
func BcryptHash(password string) (string, error) {
	b := []byte(password)
	if len(b) > 72 {
		b = b[:72]
	}
	h, err := bcrypt.GenerateFromPassword(b, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("computing bcryptHash: %w", err)
	}
	return string(h), nil
}
