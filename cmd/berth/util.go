package main

import (
	"encoding/json"
	"io"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func copyAll(w io.Writer, r io.Reader) (int64, error) { return io.Copy(w, r) }
