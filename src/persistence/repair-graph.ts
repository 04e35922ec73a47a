import type { Task } from '../types.ts';

/** One repair made at load, for the log. */
export interface GraphRepair {
  task: Task;
  message: string;
}

const newest = (tasks: Task[]) =>
  tasks.reduce((a, b) => (b.updatedAt > a.updatedAt || (b.updatedAt === a.updatedAt && b.id > a.id) ? b : a));

/**
 * A crash between two renames can leave parents that loop (A's parent B, B's parent
 * A). Each loop is broken at its most recently updated task, whose `parentId`
 * becomes null. Edits the tasks in place; parents must name existing tasks.
 */
export function breakParentLoops(tasks: Task[]): GraphRepair[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const done = new Set<string>();
  const repairs: GraphRepair[] = [];
  for (const start of tasks) {
    const path: Task[] = [];
    const onPath = new Map<string, number>();
    for (let at: Task | undefined = start; at && !done.has(at.id); at = at.parentId ? byId.get(at.parentId) : undefined) {
      const seenAt = onPath.get(at.id);
      if (seenAt !== undefined) {
        const loop = path.slice(seenAt);
        const breakAt = newest(loop);
        repairs.push({ task: breakAt, message: `parent loop ${loop.map((t) => t.id).join(' → ')} → ${at.id}: parentId of ${breakAt.id} set to null` });
        breakAt.parentId = null;
        break;
      }
      onPath.set(at.id, path.length);
      path.push(at);
    }
    for (const t of path) done.add(t.id);
  }
  return repairs;
}

/** A cycle in the dependency graph as the list of tasks along it, or undefined. Iterative: any depth. */
function findDependencyCycle(byId: Map<string, Task>): Task[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const root of byId.values()) {
    if (state.has(root.id)) continue;
    const stack: { task: Task; next: number }[] = [{ task: root, next: 0 }];
    state.set(root.id, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const depId = top.task.dependencies[top.next++];
      if (depId === undefined) {
        state.set(top.task.id, 'done');
        stack.pop();
        continue;
      }
      const dep = byId.get(depId);
      if (!dep || state.get(depId) === 'done') continue;
      if (state.get(depId) === 'open') return stack.slice(stack.findIndex((f) => f.task.id === depId)).map((f) => f.task);
      state.set(depId, 'open');
      stack.push({ task: dep, next: 0 });
    }
  }
  return undefined;
}

/**
 * Dependency cycles left by a crash are broken by removing, in each, the edge most
 * recently added: the cycle's edge out of its most recently updated task. Edits in place.
 */
export function breakDependencyCycles(tasks: Task[]): GraphRepair[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const repairs: GraphRepair[] = [];
  for (let cycle = findDependencyCycle(byId); cycle; cycle = findDependencyCycle(byId)) {
    const from = newest(cycle);
    const to = cycle[(cycle.indexOf(from) + 1) % cycle.length];
    from.dependencies = from.dependencies.filter((d) => d !== to.id);
    repairs.push({ task: from, message: `dependency cycle ${[...cycle, cycle[0]].map((t) => t.id).join(' → ')}: ${from.id} no longer depends on ${to.id}` });
  }
  return repairs;
}
