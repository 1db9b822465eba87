package locale_test

import (
	"strings"
	"testing"

	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/locales"
)

func TestEveryLanguageHasEveryKey(t *testing.T) {
	t.Parallel()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	ru := b.Messages(muster.Russian)
	if len(ru) == 0 {
		t.Fatal("no Russian messages loaded")
	}
	for _, l := range muster.Locales {
		msgs := b.Messages(l)
		for id := range ru {
			if _, ok := msgs[id]; !ok {
				t.Errorf("%s lacks %q", l, id)
			}
		}
		for id := range msgs {
			if _, ok := ru[id]; !ok {
				t.Errorf("%s has %q, which Russian (the fallback) lacks", l, id)
			}
		}
	}
	// A Russian plural message needs every CLDR form the language uses.
	for id, m := range ru {
		if m.One == "" && m.Few == "" && m.Many == "" {
			continue // not a plural message
		}
		if m.One == "" || m.Few == "" || m.Many == "" || m.Other == "" {
			t.Errorf("ru %q: plural needs one, few, many and other", id)
		}
	}
}

func TestRussianPluralForms(t *testing.T) {
	t.Parallel()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		count int
		want  string
	}{
		{1, "Ссылка действительна 1 день."},
		{2, "Ссылка действительна 2 дня."},
		{5, "Ссылка действительна 5 дней."},
		{11, "Ссылка действительна 11 дней."},
		{21, "Ссылка действительна 21 день."},
		{22, "Ссылка действительна 22 дня."},
		{14, "Ссылка действительна 14 дней."},
	}
	ru := b.For(muster.Russian)
	for _, tt := range tests {
		got, err := ru.N("invite_expires", tt.count, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("N(%d) = %q, want %q", tt.count, got, tt.want)
		}
	}
	en, err := b.For(muster.English).N("invite_expires", 1, nil)
	if err != nil || en != "The link is valid for 1 day." {
		t.Errorf("en N(1) = %q, %v", en, err)
	}
}

func TestManagerAccountsPlural(t *testing.T) {
	t.Parallel()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	ru := b.For(muster.Russian)
	for count, want := range map[int]string{1: "к 1 аккаунту:", 2: "к 2 аккаунтам:", 5: "к 5 аккаунтам:", 21: "к 21 аккаунту:", 12: "к 12 аккаунтам:"} {
		// Data that happens to hold a Count does not change the number shown.
		got, err := ru.N("manager_accounts", count, map[string]any{"Count": 99})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(got, want) {
			t.Errorf("N(%d) = %q, want it to end in %q", count, got, want)
		}
	}
}

// The console's strings share the bundle with the emails': a key defined
// in both files would silently replace the email's message.
func TestConsoleKeysDoNotShadowEmailKeys(t *testing.T) {
	t.Parallel()
	for _, l := range muster.Locales {
		emails, err := locales.FS.ReadFile("active." + string(l) + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		console, err := locales.FS.ReadFile("console." + string(l) + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(console), "\n") {
			if strings.HasPrefix(line, "[") && strings.Contains(string(emails), "\n"+line+"\n") {
				t.Errorf("%s: console key %s is also an email key", l, line)
			}
		}
	}
}
