package badger

import "syscall"

// freeBytes returns the bytes available to an unprivileged user on dir's
// filesystem (blocks reserved for root excluded).
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
