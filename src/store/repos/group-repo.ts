/** Agent groups (queues / skills) with their business hours and callback settings. */
import type pg from 'pg';
import type { AgentGroup, WeeklyHours } from '../../domain/model.js';
import type { GroupRepo } from '../store.js';
import { json, query } from './sql.js';

interface GroupRow {
  id: string;
  name: string;
  time_zone: string;
  business_hours: WeeklyHours;
  slot_capacity: number | null;
  slot_minutes: number;
  callback_mode: AgentGroup['callbackMode'];
}

function toGroup(r: GroupRow): AgentGroup {
  return {
    id: r.id,
    name: r.name,
    timeZone: r.time_zone,
    businessHours: r.business_hours,
    slotCapacity: r.slot_capacity,
    slotMinutes: r.slot_minutes,
    callbackMode: r.callback_mode,
  };
}

export function groupRepo(pool: pg.Pool): GroupRepo {
  return {
    async upsert(g) {
      const res = await query<GroupRow>(
        pool,
        `INSERT INTO agent_groups (id, name, time_zone, business_hours, slot_capacity, slot_minutes, callback_mode)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET
           name = EXCLUDED.name, time_zone = EXCLUDED.time_zone, business_hours = EXCLUDED.business_hours,
           slot_capacity = EXCLUDED.slot_capacity, slot_minutes = EXCLUDED.slot_minutes,
           callback_mode = EXCLUDED.callback_mode
         RETURNING *`,
        [g.id, g.name, g.timeZone, json(g.businessHours), g.slotCapacity, g.slotMinutes, g.callbackMode],
      );
      return toGroup(res.rows[0]!);
    },
    async get(id) {
      const res = await query<GroupRow>(pool, 'SELECT * FROM agent_groups WHERE id = $1', [id]);
      return res.rows[0] ? toGroup(res.rows[0]) : null;
    },
    async list() {
      const res = await query<GroupRow>(pool, 'SELECT * FROM agent_groups ORDER BY id');
      return res.rows.map(toGroup);
    },
  };
}
