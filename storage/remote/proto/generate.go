package storagepb

//go:generate go run gen.go
