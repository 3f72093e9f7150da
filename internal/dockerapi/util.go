package dockerapi

import (
	"context"
	"time"
)

func contextUntil(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, t)
}
