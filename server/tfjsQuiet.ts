/**
 * Imported by every Node entry point (the CLI, the bench's server process, vitest's setup):
 * tfjs's cpu backend otherwise greets each Node process with "Hi, looks like you are running
 * TensorFlow.js in Node.js…", advice to install tfjs-node, which this project leaves out on
 * purpose (its replicas must compute what the browser's backends compute). Prod mode only
 * turns tfjs's own console warnings and logs off; it changes no computation.
 */
import * as tf from '@tensorflow/tfjs';

tf.enableProdMode();
