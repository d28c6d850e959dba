package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// KeysFile is the name of the key store in the data directory.
const KeysFile = "keys.json"

// Store is the key store: a JSON file of hashed keys, mode 0600. Changes
// (create, revoke) take an exclusive lock on a sibling lock file and replace
// the file atomically, so the CLI can change keys while a server reads them.
type Store struct {
	path string
	now  func() time.Time
}

// NewStore returns the store at path (usually <data>/keys.json). The file is
// created on the first change.
func NewStore(path string) *Store {
	return &Store{path: path, now: time.Now}
}

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

type storeFile struct {
	Keys []Key `json:"keys"`
}

// List returns every stored key, revoked ones included, oldest first. A
// missing file is an empty store.
func (s *Store) List() ([]Key, error) {
	f, err := s.read()
	if err != nil {
		return nil, err
	}
	return f.Keys, nil
}

func (s *Store) read() (storeFile, error) {
	var f storeFile
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("read key store: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("key store %s is damaged: %w", s.path, err)
	}
	for i := range f.Keys {
		if !ValidHash(f.Keys[i].Hash) {
			return f, fmt.Errorf("key store %s: key %q has an invalid hash", s.path, f.Keys[i].ID)
		}
		f.Keys[i].Source = "store"
	}
	return f, nil
}

// Create makes a new key for mspID and stores its hash. It returns the key,
// which is never stored or shown again, and its record.
func (s *Store) Create(mspID, label string) (string, Key, error) {
	key, err := NewKey()
	if err != nil {
		return "", Key{}, err
	}
	rec, err := s.AddHash(HashKey(key), mspID, label)
	if err != nil {
		return "", Key{}, err
	}
	return key, rec, nil
}

// AddHash stores an already hashed key for mspID.
func (s *Store) AddHash(hash, mspID, label string) (Key, error) {
	if !ValidMSPID(mspID) {
		return Key{}, fmt.Errorf("invalid MSP ID %q: use letters, digits, '.' and '-'", mspID)
	}
	if !ValidHash(hash) {
		return Key{}, fmt.Errorf("invalid key hash")
	}
	rec := Key{ID: KeyID(hash), Hash: hash, MSPID: mspID, Label: label, Created: s.now().UTC().Truncate(time.Second), Source: "store"}
	err := s.update(func(f *storeFile) error {
		for _, k := range f.Keys {
			if k.Hash == hash || k.ID == rec.ID {
				return fmt.Errorf("a key with ID %s is already stored", rec.ID)
			}
		}
		f.Keys = append(f.Keys, rec)
		return nil
	})
	return rec, err
}

// Revoke marks the key with the given ID revoked. Revoking twice is not an
// error; the first revocation time stays.
func (s *Store) Revoke(id string) (Key, error) {
	var out Key
	err := s.update(func(f *storeFile) error {
		for i := range f.Keys {
			if f.Keys[i].ID == id {
				if f.Keys[i].Active() {
					f.Keys[i].Revoked = s.now().UTC().Truncate(time.Second)
				}
				out = f.Keys[i]
				return nil
			}
		}
		return fmt.Errorf("%w: %s", ErrKeyNotFound, id)
	})
	return out, err
}

// update runs change on the stored keys under an exclusive lock and writes
// the result atomically with mode 0600.
func (s *Store) update(change func(*storeFile) error) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	lock, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("lock key store: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock key store: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too

	f, err := s.read()
	if err != nil {
		return err
	}
	if err := change(&f); err != nil {
		return err
	}
	sort.SliceStable(f.Keys, func(i, j int) bool { return f.Keys[i].Created.Before(f.Keys[j].Created) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(b, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and
// renames it over path, so readers see the old or the new file, never half.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Authenticator resolves presented keys to identities. It serves the keys of
// the configuration (fixed) and of the store, which it re-reads when the file
// changes (checked at most once per RecheckEvery, a quarter of a second by
// default), so keys created or revoked with the CLI take effect on a running
// server within that interval. [Authenticator.Revalidate] checks the file
// every time, for long-lived requests (event streams) that must stop as soon
// as their key is revoked.
type Authenticator struct {
	store        *Store
	fixed        []Key
	RecheckEvery time.Duration

	mu      sync.Mutex
	keys    keySet
	checked time.Time
	modTime time.Time
	size    int64
	now     func() time.Time
}

// NewAuthenticator serves the keys in store (may be nil) and the fixed keys
// (from configuration). It reads the store once to report a damaged file early.
func NewAuthenticator(store *Store, fixed []Key) (*Authenticator, error) {
	a := &Authenticator{store: store, fixed: fixed, RecheckEvery: 250 * time.Millisecond, now: time.Now}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Authenticate returns the identity the presented key grants, or
// [ErrUnknownKey]. The store being unreadable is an error of its own: the
// server then answers 503, not 401.
func (a *Authenticator) Authenticate(presented string) (Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.refresh(); err != nil {
		return Identity{}, err
	}
	return a.keys.lookup(presented)
}

// Revalidate is [Authenticator.Authenticate] after checking the store file
// for changes, however recently it was checked: one stat of the file, and a
// read when it changed.
func (a *Authenticator) Revalidate(presented string) (Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checked = time.Time{}
	if err := a.refresh(); err != nil {
		return Identity{}, err
	}
	return a.keys.lookup(presented)
}

func (a *Authenticator) refresh() error {
	now := a.now()
	if a.store == nil || (!a.checked.IsZero() && now.Sub(a.checked) < a.RecheckEvery) {
		return nil
	}
	a.checked = now
	fi, err := os.Stat(a.store.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if a.modTime.IsZero() {
			return nil
		}
	case err != nil:
		return fmt.Errorf("key store: %w", err)
	case fi.ModTime().Equal(a.modTime) && fi.Size() == a.size:
		return nil
	}
	return a.reload()
}

func (a *Authenticator) reload() error {
	set := keySet{}
	for _, k := range a.fixed {
		set[k.Hash] = k
	}
	if a.store != nil {
		fi, err := os.Stat(a.store.path)
		if err == nil {
			a.modTime, a.size = fi.ModTime(), fi.Size()
		} else {
			a.modTime, a.size = time.Time{}, 0
		}
		stored, err := a.store.List()
		if err != nil {
			return err
		}
		for _, k := range stored {
			if _, dup := set[k.Hash]; !dup || !k.Active() {
				set[k.Hash] = k // a revocation in the store wins over configuration
			}
		}
	}
	a.keys = set
	a.checked = a.now()
	return nil
}
