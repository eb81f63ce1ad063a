"""PolicyServerNode: a VLA checkpoint as a ROS 2 lifecycle (managed) node.

unconfigured --configure--> inactive: parameters checked against the checkpoint, model loaded and warmed
up, subscriptions and (inactive) command publishers created, inference worker started.
inactive --activate--> active: the control loop publishes one command per period.
active --deactivate--> inactive: control stops after one last hold command.
inactive --cleanup--> unconfigured: model freed. Any state --shutdown--> finalized: all of the above.

The work: the executor (short callbacks that store the latest messages; diagnostics at 1 Hz), the control
loop (steady clock, absolute deadlines; executes the current action chunk, holds on any fault), and the
inference worker thread (computes the next chunk while the current one runs out).
With `control_process: true` (default) the control loop runs in its own process (control_process.py,
started at configure) that publishes from the plan this process writes into shared memory: the chunks,
until when the checked inputs stay valid, the tool position, the limits, e-stop. A supervisor thread here
checks the inputs and requests chunks at the control rate, but no tick waits for it or for this
interpreter's GIL. With `control_process: false` a control thread here does both.
With `sync_mode: true` (lockstep simulators, deterministic eval; sync.py) a sync thread replaces the last
two: one command per new observation, stamped with it, chunks executed as in-process eval does.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import sys
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, String

from vla.constants import OBS_STATE, TASK
from vla.errors import VlaUserError
from vla.ros_nodes.common.qos import (
    DIAGNOSTICS_QOS,
    ESTOP_QOS,
    IMAGE_QOS,
    INSTRUCTION_QOS,
    JOINT_STATES_QOS,
    LATCHED_QOS,
    TOOL_POSE_QOS,
)
from vla.ros_nodes.common.topics import TopicNames, camera_key, camera_name, camera_topic
from vla.ros_nodes.sim_robot.config import SimTopics
from vla.ros_nodes.sim_robot.messages import episode_status_dict

from .chunking import AsyncChunker, SharedChunker
from .control_process import ControlProcess, ControlSpec
from .diagnostics import ERROR, LEVEL_NAMES, OK, WARN, diagnostic_array
from .inference import InferenceWorker
from .inputs import InputSlot, Observation, on_image, on_joint_state, on_tool_pose
from .outputs import CommandOutput, default_output_type, make_output
from .params import LIVE_PARAMS, ServerParams
from .ros_params import declare_server_params, read_server_params, validation_result
from .safety import Limits, is_finite
from .shared_command import HOLDS, MISSED, O2C_N, PERIODS_N, PUBLISHED, STALE_HOLDS, Layout, SharedCommand, SharedRing
from .state import assemble_state, state_dim
from .stats import RateMeter, Rolling
from .sync import SyncStepper, common_stamp

NODE_NAME = "vla_policy_server"
WARN_THROTTLE_S = 2.0
GIL_SWITCH_INTERVAL_S = 0.0005
"""Python's default 5 ms GIL switch interval would let the inference thread delay a control tick by up to
5 ms; 0.5 ms keeps the control thread's wake-ups on time while the model runs (measured in bench/)."""


def _limits(p: ServerParams) -> Limits:
    return Limits(
        max_linear_speed=p.max_linear_speed,
        max_angular_speed=p.max_angular_speed,
        workspace_min=np.asarray(p.workspace_min, float),
        workspace_max=np.asarray(p.workspace_max, float),
        joint_min=np.asarray(p.joint_position_min, float),
        joint_max=np.asarray(p.joint_position_max, float),
    )


class PolicyServerNode(LifecycleNode):
    def __init__(self, node_name: str = NODE_NAME, topics: TopicNames | None = None, **kwargs: Any):
        super().__init__(node_name, **kwargs)
        self.topics = topics or TopicNames()
        self._declared = False
        self.add_on_set_parameters_callback(self._on_set_parameters)
        try:
            declare_server_params(self)
            params = read_server_params(self)
        except Exception as e:  # rclpy's range check or our coercion, for values from YAML or the CLI
            self.destroy_node()
            raise VlaUserError(f"invalid parameter: {e}") from None
        errors = params.validate()
        if errors:
            self.destroy_node()
            raise VlaUserError("invalid parameters: " + "; ".join(errors))
        self._declared = True
        self.params = params
        self.limits = _limits(params)
        self.instruction = params.instruction

        self.policy = None
        self.output: CommandOutput | None = None
        self.output_type = ""
        self.slots: dict[str, InputSlot] = {}
        self._subs: list[Any] = []
        self.chunker: AsyncChunker | SharedChunker | None = None
        self._control: ControlProcess | None = None  # control_process mode
        self._shared: SharedCommand | None = None
        self._plan_lock = threading.Lock()  # input faults on arrival vs the supervisor's validity updates
        self._input_faults = 0  # inputs rejected on arrival (control process mode)
        self.worker: InferenceWorker | None = None
        self.stepper: SyncStepper | None = None  # sync_mode only
        self._inputs = threading.Condition()  # sync_mode: notified when an input or the episode status arrives
        self._input_count = 0
        self._episode_status: dict[str, Any] | None = None  # latest /sim/episode (sync_mode)
        self._answered_stamp = 0  # sync_mode: stamp of the last observation answered
        self._episode = None  # sync_mode: episode counter of the last observation answered
        self.configure_error = ""

        self._estop = threading.Event()
        self._cmd_lock = threading.Lock()  # one command decision + publish at a time (control vs e-stop)
        self._control_thread: threading.Thread | None = None
        self._stop_control = threading.Event()
        self._active_since = 0.0
        self._period = params.control_period_s
        self._inference_error: str | None = None

        self.level, self.status_message = OK, "unconfigured"
        self.periods, self.latencies, self.obs_to_command = Rolling(), Rolling(200), Rolling(200)
        self._new_chunk_obs_time: float | None = None  # arrival of the inputs behind the chunk just installed
        self.rate = RateMeter()
        self._missed, self._published, self._holds, self._stale_holds = 0, 0, 0, 0  # in this process
        self.last_warning = ""
        self._warned_at: dict[str, float] = {}
        self._diag_pub = self.create_publisher(DiagnosticArray, self.topics.diagnostics, DIAGNOSTICS_QOS)
        self._diag_timer = self.create_timer(1.0, self.publish_diagnostics)

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, parameters):
        if not self._declared:  # declaration: each value alone; the whole set is validated right after
            return SetParametersResult(successful=True)
        result, params = validation_result(self, parameters)
        if result.successful and params is not None:
            if {p.name for p in parameters} <= LIVE_PARAMS:
                self.params, self.limits = params, _limits(params)
                if self._shared is not None:
                    self._shared.write_limits(self.limits)
                if params.instruction and params.instruction != self.instruction:
                    self._set_instruction(params.instruction)
            else:
                self.params = params
        return result

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except VlaUserError as e:
            self.configure_error = str(e)
            self.get_logger().error(f"configure failed: {e}")
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        except Exception as e:  # rclpy would swallow it and report only "ERROR"
            self.configure_error = f"{type(e).__name__}: {e}"
            self.get_logger().error(f"configure failed: {self.configure_error}")
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        self._set_status(OK, "inactive (configured, not publishing commands)")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)  # enables the lifecycle publishers
        if self.chunker is not None:
            self.chunker.reset()
        self._stop_control.clear()
        self._period = self.params.control_period_s  # a changed rate applies at the next activation
        self._active_since = time.monotonic()
        sync = self.stepper is not None
        if sync:
            loop, name = self._sync_loop, "vla-sync"
        elif self._control is not None:
            loop, name = self._supervise_loop, "vla-supervise"
        else:
            loop, name = self._control_loop, "vla-control"
        self._control_thread = threading.Thread(target=loop, name=name, daemon=True)
        self._control_thread.start()
        if self._control is not None:
            self._control.activate(self._period)
        if sync:
            self.get_logger().info(f"active (sync mode): one {self.output_type} command per observation")
        else:
            where = f"control process {self._control.pid}" if self._control is not None else "control thread"
            self.get_logger().info(
                f"active: {self.output_type} commands at {self.params.control_rate_hz:g} Hz ({where})"
            )
        return ret

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_control_loop()
        self._set_status(OK, "inactive (configured, not publishing commands)")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        self._set_status(OK, "unconfigured")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_control_loop()
        self._teardown()
        self._set_status(OK, "finalized")
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_control_loop()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ configure / teardown
    def _configure(self) -> None:
        import torch

        from vla.policy.checkpoint import load_policy

        p = self.params
        if not p.checkpoint:
            raise VlaUserError("parameter 'checkpoint' is empty; pass --checkpoint DIR or set it in the params file")
        torch.set_num_threads(p.torch_threads)
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        policy = load_policy(p.checkpoint, device=p.device)
        cfg = policy.config
        cameras = list(p.camera_names) or [camera_name(k) for k in cfg.camera_keys]
        missing = [k for k in cfg.camera_keys if k not in {camera_key(c) for c in cameras}]
        if missing:
            raise VlaUserError(f"the checkpoint needs cameras {missing}; camera_names={cameras} does not provide them")
        with_tool = bool(p.tool_pose_topic)
        n_state = state_dim(len(p.joint_names), with_tool)
        if n_state != cfg.state_dim:
            raise VlaUserError(
                f"the checkpoint expects a {cfg.state_dim}-d state, but joint_names ({len(p.joint_names)})"
                f"{' + tool pose (7)' if with_tool else ''} give {n_state}"
            )
        kind = p.output_type or default_output_type(cfg.action_dim)
        if kind is None:
            raise VlaUserError(f"cannot infer output_type from action_dim={cfg.action_dim}; set output_type")
        need = {"ee_twist": 5, "twist": 2, "joint_trajectory": len(p.joint_position_min)}[kind]
        if cfg.action_dim < need:
            raise VlaUserError(
                f"output_type={kind} needs actions of >= {need} dims; the checkpoint's have {cfg.action_dim}"
            )

        self.policy = policy
        self._warm_up(cameras)
        topics = dict(zip(cameras, p.camera_topics or [camera_topic(c) for c in cameras], strict=True))
        # Built whole, then published: executor threads (diagnostics, callbacks) read self.slots meanwhile.
        slots = {camera_key(cam): InputSlot(camera_key(cam), topic) for cam, topic in topics.items()}
        slots[OBS_STATE] = InputSlot("joint_states", self.topics.joint_states)
        if with_tool:
            slots["tool_pose"] = InputSlot("tool_pose", p.tool_pose_topic)
        self.slots = slots
        for cam, topic in topics.items():
            self._subs.append(self.create_subscription(Image, topic, self._image_cb(slots[camera_key(cam)]), IMAGE_QOS))
        self._subs.append(
            self.create_subscription(JointState, self.topics.joint_states, self._joint_cb, JOINT_STATES_QOS)
        )
        if with_tool:
            self._subs.append(self.create_subscription(PoseStamped, p.tool_pose_topic, self._tool_cb, TOOL_POSE_QOS))
        self._subs.append(self.create_subscription(String, self.topics.instruction, self._instr_cb, INSTRUCTION_QOS))
        self._subs.append(self.create_subscription(Bool, self.topics.estop, self._estop_cb, ESTOP_QOS))

        arm_joints = [j for j in p.joint_names][: len(p.joint_position_min)]
        self.output_type = kind
        if not p.control_process or p.sync_mode:  # else the control process owns the command publishers
            self.output = make_output(kind, self, self.topics, arm_joints)
        n_action_steps = p.n_action_steps or cfg.n_action_steps
        if n_action_steps > cfg.chunk_size:
            raise VlaUserError(f"n_action_steps={n_action_steps} exceeds the checkpoint's chunk_size {cfg.chunk_size}")
        if p.sync_mode:
            self.stepper = SyncStepper(policy, p.ensembling or cfg.ensembling, n_action_steps)
            self._episode_status, self._answered_stamp, self._episode = None, 0, None
            episode_topic = SimTopics().episode
            self._subs.append(self.create_subscription(DiagnosticStatus, episode_topic, self._episode_cb, LATCHED_QOS))
            return
        min_remaining = p.min_remaining_actions
        if min_remaining < 0:
            min_remaining = cfg.chunk_size - n_action_steps
        min_remaining = min(min_remaining, cfg.chunk_size - 1)
        if p.control_process:
            self._start_control_process(kind, arm_joints, Layout(cfg.chunk_size, cfg.action_dim, len(arm_joints)))
            self.chunker = SharedChunker(min_remaining, self._shared)
        else:
            self.chunker = AsyncChunker(min_remaining)
        self.worker = InferenceWorker(self.policy.infer, self._on_chunk, self._on_inference_error)
        self.worker.start()

    def _warm_up(self, cameras: list[str]) -> None:
        """One inference at configure time, so the first real chunk is not slowed by lazy initialisation."""
        cfg = self.policy.config
        h, w = cfg.image_size
        obs = {camera_key(c): np.zeros((h, w, 3), np.uint8) for c in cameras}
        obs.update({OBS_STATE: np.zeros(cfg.state_dim, np.float32), TASK: self.instruction or "warm up"})
        t0 = time.perf_counter()
        self.policy.infer(obs)
        self.get_logger().info(
            f"loaded {self.params.checkpoint} ({cfg.backbone_name}+{cfg.head_name}, chunk {cfg.chunk_size}x"
            f"{cfg.action_dim}) on {self.params.device}; warm-up inference {1e3 * (time.perf_counter() - t0):.0f} ms"
        )

    def _start_control_process(self, kind: str, arm_joints: list[str], layout: Layout) -> None:
        t = self.topics
        outputs = ("ee_command", "gripper_command", "joint_command", "cmd_vel")
        topics = dataclasses.replace(t, **{k: self.resolve_topic_name(getattr(t, k)) for k in outputs})
        self._shared = SharedCommand.create(layout)
        self._shared.write_limits(self.limits)
        spec = ControlSpec(
            self._shared.name, layout, os.getpid(), f"{self.get_name()}_control", self.get_namespace(), kind,
            topics, arm_joints, self.params.control_priority,
        )  # fmt: skip
        self._control = ControlProcess(spec, self._shared)
        self._control.set_estop(self._estop.is_set())
        error = self._control.wait_ready()
        if error:
            raise RuntimeError(error)
        self.periods = SharedRing(self._shared, "periods", PERIODS_N)
        self.obs_to_command = SharedRing(self._shared, "o2c", O2C_N, 200)
        self.get_logger().info(f"control process {self._control.pid} ready")

    def _stop_control_process(self) -> None:
        control, shared = self._control, self._shared
        if control is None:
            if shared is not None:
                self._shared = None
                shared.close()
            return
        self._control = None  # counters and timing fold back into this process's
        self._missed += control.counter(MISSED)
        self._published += control.counter(PUBLISHED)
        self._holds += control.counter(HOLDS)
        self._stale_holds += control.counter(STALE_HOLDS)
        periods, o2c = Rolling(), Rolling(200)
        for ring, rolling in ((self.periods, periods), (self.obs_to_command, o2c)):
            for v in ring.values():
                rolling.add(v)
        self.periods, self.obs_to_command = periods, o2c
        code = control.stop()
        if code not in (0, None):
            self.get_logger().warning(f"control process exited with code {code}")
        self._shared = None
        shared.close()

    def _teardown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.chunker = None
        self._stop_control_process()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs, self.slots = [], {}
        if self.output is not None:
            self.output.destroy()
            self.output = None
        if self.policy is not None:
            device = str(self.policy.device)
            self.policy = None
            gc.collect()
            if device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()
        self.chunker = None
        self.stepper = None

    # ------------------------------------------------------------------ callbacks (executor thread, short)
    def _input_arrived(self) -> None:
        if self.stepper is not None:
            with self._inputs:
                self._input_count += 1
                self._inputs.notify()

    def _stop_plan_on_bad_input(self, slot: InputSlot, reason: str | None) -> None:
        """Control process: an input rejected (or stamped too old) on arrival stops the plan now, not at the
        supervisor's next check, which this process's load can delay."""
        shared = self._shared
        if shared is None or self._control_thread is None:
            return
        if reason is None and self.params.max_stamp_age_s > 0:
            p = self.params
            _, reason = slot.check(time.monotonic(), self.get_clock().now().nanoseconds, 1e9, p.max_stamp_age_s)
        if reason is not None:
            with self._plan_lock:
                self._input_faults += 1
                shared.write_inputs(0.0, None)
            chunker = self.chunker
            if chunker is not None:
                chunker.reset()  # as after any hold: the current plan is void

    def _image_cb(self, slot: InputSlot):
        def cb(msg: Image) -> None:
            reason = on_image(slot, msg)
            if reason:
                self.warn_throttled(slot.topic, f"rejected image on {slot.topic}: {reason}")
            self._stop_plan_on_bad_input(slot, reason)
            self._input_arrived()

        return cb

    def _joint_cb(self, msg: JointState) -> None:
        slot = self.slots.get(OBS_STATE)
        if slot is None:  # a message dispatched just before cleanup destroyed the subscription
            return
        reason = on_joint_state(slot, msg, self.params.joint_names)
        if reason:
            self.warn_throttled(self.topics.joint_states, f"rejected {self.topics.joint_states}: {reason}")
        self._stop_plan_on_bad_input(slot, reason)
        self._input_arrived()

    def _tool_cb(self, msg: PoseStamped) -> None:
        slot = self.slots.get("tool_pose")
        if slot is None:  # as in _joint_cb
            return
        reason = on_tool_pose(slot, msg)
        if reason:
            self.warn_throttled(self.params.tool_pose_topic, f"rejected {self.params.tool_pose_topic}: {reason}")
        self._stop_plan_on_bad_input(slot, reason)
        self._input_arrived()

    def _episode_cb(self, msg: DiagnosticStatus) -> None:
        status = episode_status_dict(msg)
        if status.get("stamp_ns", 0) < self._answered_stamp:
            # The sim's clock went back: a new simulator process (e.g. the next task's). Its observations are
            # new even though their stamps are below the last one answered, which would otherwise hold forever.
            self._answered_stamp, self._episode = 0, None
        self._episode_status = status
        self._input_arrived()

    def _instr_cb(self, msg: String) -> None:
        text = msg.data.strip()
        if not text:
            self.warn_throttled("instruction", f"ignored an empty instruction on {self.topics.instruction}")
        elif text != self.instruction:
            self._set_instruction(text)

    def _set_instruction(self, text: str) -> None:
        self.get_logger().info(f"instruction: {text!r}")
        self.instruction = text
        if self.chunker is not None:
            self.chunker.reset()  # the current plan was for the old instruction
        if hasattr(self.policy, "reset"):
            self.policy.reset()  # a new task: a policy that holds an episode-start estimate makes a new one

    def _estop_cb(self, msg: Bool) -> None:
        control = self._control
        if msg.data and not self._estop.is_set():
            self._estop.set()
            if control is not None:
                control.set_estop(True)  # the control process publishes the zero command at once
            self.get_logger().warning("e-stop engaged: holding until false on " + self.topics.estop)
            with self._cmd_lock:  # do not wait for the next tick
                if self._control_thread is not None and self.output is not None:
                    self._hold(WARN, "e-stop engaged")
        elif not msg.data and self._estop.is_set():
            chunker = self.chunker
            if chunker is not None:
                chunker.reset()  # before release: the control process must not resume the old chunk
            self._estop.clear()
            if control is not None:
                control.set_estop(False)
            self.get_logger().info("e-stop released")

    def _on_chunk(self, chunk: np.ndarray, step: int, epoch: int, latency: float, obs_time: float) -> None:
        """Inference thread: install the chunk unless it holds NaN/Inf (then it is never executed)."""
        self.latencies.add(latency)
        chunker = self.chunker
        if chunker is None:
            return
        if not is_finite(chunk):
            self._inference_error = "the model produced non-finite actions (NaN/Inf); holding"
            self.warn_throttled("model", self._inference_error)
            chunker.cancel_request()
            return
        self._inference_error = None
        if isinstance(chunker, SharedChunker):
            chunker.offer(chunk, step, epoch, obs_time)  # the control process measures obs-to-command
        elif chunker.offer(chunk, step, epoch) >= 0:
            self._new_chunk_obs_time = obs_time

    def _on_inference_error(self, reason: str) -> None:
        self._inference_error = reason
        self.warn_throttled("model", reason)
        if self.chunker is not None:
            self.chunker.cancel_request()

    def warn_throttled(self, key: str, text: str) -> None:
        """Log a warning at most every WARN_THROTTLE_S per key (bad inputs can arrive at camera rate)."""
        now = time.monotonic()
        self.last_warning = text
        if now - self._warned_at.get(key, -1e9) >= WARN_THROTTLE_S:
            self._warned_at[key] = now
            self.get_logger().warning(text)

    # ------------------------------------------------------------------ control thread
    def _raise_control_priority(self) -> None:
        """SCHED_FIFO for this (the control) thread only: ticks then preempt ordinary processes and threads."""
        prio = self.params.control_priority
        if prio <= 0 or not hasattr(os, "sched_setscheduler"):
            return
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO, os.sched_param(prio))
        except OSError as e:
            self.get_logger().info(
                f"control thread at normal priority (SCHED_FIFO {prio} not permitted: {e.strerror}); allow it with "
                "CAP_SYS_NICE or an rtprio limit, or set control_priority 0 to silence this"
            )

    def _control_loop(self) -> None:
        self._raise_control_priority()
        period = self._period
        next_tick = time.monotonic()
        last = None
        while not self._stop_control.is_set():
            now = time.monotonic()
            if now < next_tick:
                self._stop_control.wait(next_tick - now)
                continue
            late = now - next_tick
            if late >= period:  # skip the periods we slept through instead of bursting to catch up
                skipped = int(late // period)
                self._missed += skipped
                next_tick += skipped * period
            if last is not None:
                self.periods.add(now - last)
            last = now
            self.rate.tick(now)
            try:
                self._tick(now)
            except Exception as e:  # never die silently while the robot moves: hold and report
                self.warn_throttled("control", f"control tick failed: {type(e).__name__}: {e}")
                with self._cmd_lock:
                    self._hold(ERROR, f"control tick failed: {e}")
            next_tick += period

    def _stop_control_loop(self) -> None:
        thread, self._control_thread = self._control_thread, None
        if thread is None:
            return
        self._stop_control.set()
        thread.join(5.0)
        if self._control is not None:
            if not self._control.deactivate():  # it publishes the last hold, then idles
                self.get_logger().warning("the control process did not acknowledge deactivation within 2 s")
            return
        with self._cmd_lock:
            if self.output is not None:
                self.output.hold()  # leave the robot stopped, not coasting on the last velocity

    def _snapshot(self, now: float) -> tuple[Observation | None, str | None]:
        ros_now = self.get_clock().now().nanoseconds
        p = self.params
        values, oldest, valid_until = {}, now, now + p.obs_timeout_s
        for key, slot in self.slots.items():
            sample, reason = slot.check(now, ros_now, p.obs_timeout_s, p.max_stamp_age_s)
            if reason is not None:
                return None, reason
            values[key], oldest = sample.value, min(oldest, sample.received)
            valid_until = min(valid_until, sample.received + p.obs_timeout_s)
            if p.max_stamp_age_s > 0:  # when the stamp gets too old, on this clock
                valid_until = min(valid_until, now + p.max_stamp_age_s - (ros_now - sample.stamp_ns) * 1e-9)
        images = {k: v for k, v in values.items() if k not in (OBS_STATE, "tool_pose")}
        return Observation(images, values[OBS_STATE], values.get("tool_pose"), oldest, valid_until), None

    def _tick(self, now: float) -> None:
        chunker, output = self.chunker, self.output
        with self._cmd_lock:
            if self._estop.is_set():
                return self._hold(WARN, "e-stop engaged")
            obs, reason = self._snapshot(now)
            if obs is None:
                starting = reason.startswith("no message") and now - self._active_since < self.params.obs_timeout_s
                chunker.reset()
                return self._hold(WARN if starting else ERROR, f"holding: {reason}")
            if not self.instruction:
                return self._hold(WARN, f"holding: no instruction yet (publish on {self.topics.instruction})")
            action = chunker.pop()
            if chunker.should_request():
                policy_obs = {**obs.images, OBS_STATE: assemble_state(obs.joints, obs.tool), TASK: self.instruction}
                self.worker.submit(policy_obs, chunker.step, chunker.epoch, obs.received)
            if action is None:
                if self._inference_error:
                    return self._hold(ERROR, f"holding: {self._inference_error}")
                return self._hold(WARN, "holding: waiting for the next action chunk")
            if not is_finite(action):
                chunker.reset()
                return self._hold(ERROR, "holding: non-finite action")
            output.publish(action, obs, self._period, self.limits)
            self._published += 1
            obs_time, self._new_chunk_obs_time = self._new_chunk_obs_time, None
            if obs_time is not None:  # first command from a new chunk: how old are the inputs behind it?
                self.obs_to_command.add(time.monotonic() - obs_time)
            self._set_status(OK, "publishing commands")

    def _hold(self, level: int, reason: str, stamp_ns: int | None = None) -> None:
        """Publish the output's hold command (caller holds _cmd_lock) and report why."""
        if self.output is not None:
            self.output.hold(stamp_ns)
        self._holds += 1
        self._set_status(level, reason)

    # ------------------------------------------------------------------ supervisor thread (control_process)
    def _supervise_loop(self) -> None:
        """Input checks and chunk requests at the control rate; the control process publishes."""
        period, next_check = self._period, time.monotonic()
        while not self._stop_control.wait(max(0.0, next_check - time.monotonic())):
            now = time.monotonic()
            try:
                self._supervise(now)
            except Exception as e:  # the control process holds once the plan's validity runs out
                self._shared.write_inputs(0.0, None)
                self.warn_throttled("control", f"supervisor check failed: {type(e).__name__}: {e}")
                self._set_status(ERROR, f"supervisor check failed: {e}")
            next_check = max(next_check + period, now)

    def _supervise(self, now: float) -> None:
        chunker, control, shared = self.chunker, self._control, self._shared
        if not control.process.is_alive():
            code = control.process.exitcode
            return self._set_status(ERROR, f"the control process exited (code {code}); no commands are published")
        if self._estop.is_set():
            return self._set_status(WARN, "e-stop engaged")
        faults = self._input_faults
        obs, reason = self._snapshot(now)
        if obs is None:
            starting = reason.startswith("no message") and now - self._active_since < self.params.obs_timeout_s
            chunker.reset()
            shared.write_inputs(0.0, None)
            return self._set_status(WARN if starting else ERROR, f"holding: {reason}")
        if not self.instruction:
            shared.write_inputs(0.0, None)
            return self._set_status(WARN, f"holding: no instruction yet (publish on {self.topics.instruction})")
        with self._plan_lock:
            if faults != self._input_faults:  # a bad input arrived after the snapshot: keep the plan stopped
                return
            shared.write_inputs(obs.valid_until, None if obs.tool is None else obs.tool.position)
        if chunker.should_request():
            policy_obs = {**obs.images, OBS_STATE: assemble_state(obs.joints, obs.tool), TASK: self.instruction}
            self.worker.submit(policy_obs, chunker.step, chunker.epoch, obs.received)
        if chunker.remaining() == 0:
            if self._inference_error:
                return self._set_status(ERROR, f"holding: {self._inference_error}")
            return self._set_status(WARN, "holding: waiting for the next action chunk")
        self._set_status(OK, "publishing commands")

    # ------------------------------------------------------------------ sync thread (sync_mode)
    def _sync_loop(self) -> None:
        seen = -1
        while not self._stop_control.is_set():
            with self._inputs:
                if self._input_count == seen:
                    self._inputs.wait(0.1)
                seen = self._input_count
            ready = self._sync_observation()
            if ready is None:
                continue
            try:
                self._sync_step(*ready)
            except Exception as e:  # hold (answering this observation) and report; the sim steps on the hold
                self.warn_throttled("control", f"sync step failed: {type(e).__name__}: {e}")
                with self._cmd_lock:
                    self._hold(ERROR, f"sync step failed: {e}", ready[1])

    def _sync_observation(self) -> tuple[Observation, int, dict[str, Any], float] | None:
        """(observation, its stamp, its /sim/episode status, arrival of its last part) once an observation
        not answered yet is complete: every input and the episode status carry the same stamp."""
        status = self._episode_status
        if status is None or status.get("done"):
            return None  # the sim publishes no observation after an episode ends
        values, stamps, arrived = {}, [status.get("stamp_ns", 0)], []
        for key, slot in self.slots.items():
            sample, error = slot.latest()
            if sample is None or error is not None:
                return None
            values[key] = sample.value
            stamps.append(sample.stamp_ns)
            arrived.append(sample.received)
        stamp = common_stamp(stamps)
        if stamp is None or stamp <= self._answered_stamp:
            return None
        images = {k: v for k, v in values.items() if k not in (OBS_STATE, "tool_pose")}
        obs = Observation(images, values[OBS_STATE], values.get("tool_pose"), min(arrived))
        return obs, stamp, status, max(arrived)

    def _sync_step(self, obs: Observation, stamp: int, status: dict[str, Any], arrived: float) -> None:
        self._answered_stamp = stamp
        if status.get("episode") != self._episode:
            self._episode = status.get("episode")
            self.stepper.reset()
        self.rate.tick(time.monotonic())
        if self._estop.is_set():
            with self._cmd_lock:
                return self._hold(WARN, "e-stop engaged", stamp)
        instruction = status.get("instruction") or self.instruction
        policy_obs = {**obs.images, OBS_STATE: assemble_state(obs.joints, obs.tool), TASK: instruction}
        action = self.stepper.step(policy_obs)  # inference (when a chunk is due) outside the command lock
        if self.stepper.last_latency is not None:
            self.latencies.add(self.stepper.last_latency)
        with self._cmd_lock:
            if self._estop.is_set():
                return self._hold(WARN, "e-stop engaged", stamp)
            if not is_finite(action):
                self.stepper.reset()
                return self._hold(ERROR, "holding: non-finite action", stamp)
            self.output.publish(action, obs, self._period, self.limits, stamp)
            self._published += 1
            self.obs_to_command.add(time.monotonic() - arrived)
            self._set_status(OK, "publishing commands (sync mode)")

    def _set_status(self, level: int, message: str) -> None:
        changed = level != self.level
        self.level, self.status_message = level, message
        if changed and level != OK:
            self.publish_diagnostics()  # faults are reported now, not at the next 1 Hz tick

    # ------------------------------------------------------------------ counters (this process + control process)
    def _count(self, local: int, index: int) -> int:
        control = self._control
        return local + (0 if control is None else control.counter(index))

    @property
    def missed_periods(self) -> int:
        return self._count(self._missed, MISSED)

    @property
    def published(self) -> int:
        return self._count(self._published, PUBLISHED)

    @property
    def holds(self) -> int:
        return self._count(self._holds, HOLDS)

    def control_rate(self, now: float, window_s: float = 2.0) -> float:
        shared = self._shared
        if shared is None:
            return self.rate.rate(now)
        if now - float(shared.last_tick[0]) > window_s:
            return 0.0
        periods, total, n = self.periods.values(), 0.0, 0
        for v in reversed(periods):
            if total + v > window_s:
                break
            total, n = total + v, n + 1
        return n / total if total > 0 else 0.0

    # ------------------------------------------------------------------ diagnostics
    def diagnostic_values(self) -> dict[str, Any]:
        worker, chunker, control = self.worker, self.chunker, self._control
        return {
            "lifecycle_state": self._state_machine.current_state[1],
            "output_type": self.output_type,
            "control_rate_target_hz": self.params.control_rate_hz,
            "control_rate_hz": self.control_rate(time.monotonic()),
            "control_process_pid": 0 if control is None else control.pid,
            "stale_plan_holds": self._count(self._stale_holds, STALE_HOLDS),
            "period_p50_ms": self.periods.percentile_ms(50),
            "period_p99_ms": self.periods.percentile_ms(99),
            "missed_periods": self.missed_periods,
            "inference_latency_p50_ms": self.latencies.percentile_ms(50),
            "inference_latency_p95_ms": self.latencies.percentile_ms(95),
            "obs_to_command_p50_ms": self.obs_to_command.percentile_ms(50),
            "sync_mode": self.params.sync_mode,
            "chunks_computed": self.stepper.chunks if self.stepper else (0 if worker is None else worker.computed),
            "chunks_discarded": 0 if chunker is None else chunker.discarded,
            "dropped_frames": sum(s.rejected for s in self.slots.values()),
            "commands_published": self.published,
            "holds_published": self.holds,
            "estop": self._estop.is_set(),
            "instruction": self.instruction,
            "last_warning": self.last_warning,
        }

    def publish_diagnostics(self) -> None:
        try:
            values = self.diagnostic_values()
        except Exception as e:  # an exception here would end the executor's spin, and with it every callback
            self.warn_throttled("diagnostics", f"diagnostics skipped: {type(e).__name__}: {e}")
            return
        msg = diagnostic_array(
            self.get_clock().now().to_msg(),
            f"{self.get_name()}: policy server",
            self.params.checkpoint,
            self.level,
            f"{LEVEL_NAMES[self.level]}: {self.status_message}",
            values,
        )
        self._diag_pub.publish(msg)
