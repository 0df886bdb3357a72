// The one way this app runs an audio worklet: load its module, make its node (mono out), hear its
// messages, pull it from the destination, and start the context.

export interface WorkletSpec<Options, Message> {
  /** The module's URL (`./worklets/<name>.worklet.ts?worker&url`). */
  url: string;
  /** The name the module registers its processor under. */
  processor: string;
  /** 1 for a node fed by a source (capture), 0 for one that only makes sound (playback). */
  inputs: 0 | 1;
  options: Options;
  onMessage: (message: Message) => void;
}

/**
 * The worklet's node in `context`, connected to the destination (a capture node's output is
 * silence, but only a connected node is pulled), with the context running. Throws what
 * `addModule` or `resume` throw.
 */
export async function startWorklet<Options, Message>(
  context: AudioContext,
  spec: WorkletSpec<Options, Message>,
): Promise<AudioWorkletNode> {
  await context.audioWorklet.addModule(spec.url);
  const node = new AudioWorkletNode(context, spec.processor, {
    numberOfInputs: spec.inputs,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    processorOptions: spec.options,
  });
  node.port.onmessage = (event: MessageEvent<Message>) => spec.onMessage(event.data);
  node.connect(context.destination);
  await context.resume();
  return node;
}
