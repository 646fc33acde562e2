import { Controller, Get, Inject } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '#event-store';
import { PublicRoute } from '../auth/auth.guard.js';

@Controller('health')
export class HealthController {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  /** Ready when the store answers; needs no token so orchestrators can probe it. */
  @Get()
  @PublicRoute()
  async health() {
    const head = await this.store.headPosition();
    return { status: 'ok', headPosition: head ? head.commit.toString() : null };
  }
}
